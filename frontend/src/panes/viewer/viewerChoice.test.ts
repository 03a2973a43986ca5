import { describe, expect, it } from 'vitest'
import { chooseViewer, extensionOf, looksBinary } from './viewerChoice'

describe('chooseViewer', () => {
  it('picks a viewer by extension, case ignored', () => {
    const cases: [string, string][] = [
      ['plot.PNG', 'image'],
      ['logo.svg', 'image'],
      ['photo.jpeg', 'image'],
      ['paper.pdf', 'pdf'],
      ['run.log', 'text'],
      ['job.out', 'text'],
      ['job.err', 'text'],
      ['notes.txt', 'text'],
      ['data.csv', 'table'],
      ['data.tsv', 'table'],
      ['config.json', 'json'],
      ['README.md', 'markdown'],
      ['report.html', 'html'],
      ['archive.tar.gz', 'binary'],
      ['weights.h5', 'binary'],
      ['LICENSE', 'sniff'],
      ['data.xyz', 'sniff'],
    ]
    for (const [name, viewer] of cases) expect(chooseViewer(name, true), name).toEqual({ kind: 'viewer', viewer })
  })
  it('sends code and configuration to the editor', () => {
    for (const name of ['analysis.py', 'main.c', 'job.sbatch', 'config.yaml', 'settings.toml', 'Makefile', 'app.ts']) {
      expect(chooseViewer(name, true), name).toEqual({ kind: 'editor' })
    }
  })
  it('uses the text viewer for code while there is no editor', () => {
    expect(chooseViewer('analysis.py', false)).toEqual({ kind: 'viewer', viewer: 'text' })
    expect(chooseViewer('data.csv', false)).toEqual({ kind: 'viewer', viewer: 'table' })
  })
  it('has no extension for dot files', () => {
    expect(extensionOf('.bashrc')).toBe('')
    expect(extensionOf('a.B')).toBe('b')
  })
})

describe('looksBinary', () => {
  it('is true when the first KiB holds a NUL', () => {
    expect(looksBinary(new TextEncoder().encode('plain text\n'))).toBe(false)
    expect(looksBinary(new Uint8Array([0x89, 0x50, 0x00, 0x47]))).toBe(true)
    const late = new Uint8Array(2048).fill(0x41)
    late[1500] = 0
    expect(looksBinary(late)).toBe(false)
    expect(looksBinary(new Uint8Array())).toBe(false)
  })
})
