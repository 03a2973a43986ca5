import { describe, expect, it } from 'vitest'
import { relativeTarget, renderMarkdown } from './markdown'

const url = (path: string): string => `/api/v1/resources/1/files/content?path=${encodeURIComponent(path)}`

describe('renderMarkdown', () => {
  it('renders Markdown', () => {
    const html = renderMarkdown('# Title\n\n*some* `code`', '/d', url)
    expect(html).toContain('<h1>Title</h1>')
    expect(html).toContain('<em>some</em>')
  })
  it('removes scripts, handlers and javascript: links', () => {
    const html = renderMarkdown('<script>alert(1)</script><img src=x onerror="alert(2)">\n\n[x](javascript:alert(3))\n\n<iframe src="/api"></iframe>', '/d', url)
    expect(html).not.toMatch(/script|onerror|javascript:|iframe/i)
    expect(html).toContain('<a')
  })
  it('opens web links in a new tab without an opener', () => {
    const html = renderMarkdown('[site](https://example.org)', '/d', url)
    expect(html).toContain('target="_blank"')
    expect(html).toContain('rel="noopener noreferrer"')
  })
  it('points relative images at the resource and marks relative links', () => {
    const html = renderMarkdown('![fig](img/plot.png) [next](../other.md)', '/home/u/docs', url)
    expect(html).toContain(`src="${url('/home/u/docs/img/plot.png').replace(/&/g, '&amp;')}"`)
    expect(html).toContain('data-path="/home/u/other.md"')
  })
})

describe('relativeTarget', () => {
  it('leaves URLs and anchors alone', () => {
    expect(relativeTarget('https://x.org/a', '/d')).toBeNull()
    expect(relativeTarget('#top', '/d')).toBeNull()
    expect(relativeTarget('mailto:a@b', '/d')).toBeNull()
    expect(relativeTarget('a%20b.md#s', '/d')).toBe('/d/a b.md')
  })
})
