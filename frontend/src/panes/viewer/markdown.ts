/**
 * Markdown to safe HTML: marked renders, DOMPurify removes anything that runs (scripts,
 * event handlers, javascript: URLs, iframes, forms). Links to the web open in a new tab
 * without an opener; images and links relative to the file point at the resource's files.
 */
import DOMPurify from 'dompurify'
import { marked } from 'marked'
import { normalisePath } from '../files/pathBar'

/** An absolute path on the resource for a relative `href` seen from `baseDir`, or null for a URL or an anchor. */
export function relativeTarget(href: string, baseDir: string): string | null {
  if (!href || href.startsWith('#') || /^[a-z][a-z0-9+.-]*:/i.test(href) || href.startsWith('//')) return null
  const clean = decodeURIComponent(href.split('#')[0]?.split('?')[0] ?? '')
  if (!clean) return null
  return clean.startsWith('/') ? normalisePath(clean) : normalisePath(`${baseDir}/${clean}`)
}

/**
 * Render `source`. `fileUrl` turns a resource path into a URL for images (or null to
 * leave them out); relative links get `data-path` for the viewer to open in labgate.
 */
export function renderMarkdown(source: string, baseDir: string, fileUrl: (path: string) => string | null): string {
  const html = marked.parse(source, { async: false, gfm: true })
  const purify = DOMPurify()
  purify.addHook('afterSanitizeAttributes', (node) => {
    if (node.tagName === 'A') {
      const href = node.getAttribute('href') ?? ''
      const local = relativeTarget(href, baseDir)
      if (local !== null) {
        node.setAttribute('data-path', local)
        node.setAttribute('href', '#')
      } else if (!href.startsWith('#')) {
        node.setAttribute('target', '_blank')
        node.setAttribute('rel', 'noopener noreferrer')
      }
    }
    if (node.tagName === 'IMG') {
      const src = node.getAttribute('src') ?? ''
      const local = relativeTarget(src, baseDir)
      if (local !== null) {
        const url = fileUrl(local)
        if (url) node.setAttribute('src', url)
        else node.removeAttribute('src')
      } else if (!/^(https?:|data:image\/)/i.test(src)) {
        node.removeAttribute('src')
      }
    }
  })
  return purify.sanitize(html, { USE_PROFILES: { html: true }, FORBID_TAGS: ['style', 'form', 'input', 'button', 'textarea', 'select'] })
}
