import { describe, expect, it } from 'vitest'
import { keepBothName, nameProblem, splitExtension } from './names'

describe('keepBothName', () => {
  it('numbers before the extension', () => {
    expect(keepBothName('report.pdf', new Set(['report.pdf']))).toBe('report (1).pdf')
    expect(keepBothName('report.pdf', new Set(['report.pdf', 'report (1).pdf']))).toBe('report (2).pdf')
  })
  it('counts on from an existing number', () => {
    expect(keepBothName('run (3).csv', new Set())).toBe('run (4).csv')
  })
  it('keeps compound extensions and dot files whole', () => {
    expect(keepBothName('data.tar.gz', new Set())).toBe('data (1).tar.gz')
    expect(keepBothName('.bashrc', new Set())).toBe('.bashrc (1)')
  })
  it('does not split folder names at dots', () => {
    expect(keepBothName('v1.2', new Set(), true)).toBe('v1.2 (1)')
    expect(splitExtension('v1.2', true)).toEqual({ stem: 'v1.2', extension: '' })
  })
})

describe('nameProblem', () => {
  it('refuses what cannot be a name', () => {
    expect(nameProblem('')).toMatch(/Type a name/)
    expect(nameProblem('a/b')).toMatch(/"\/"/)
    expect(nameProblem('..')).not.toBeNull()
    expect(nameProblem('a\0b')).toMatch(/NUL/)
    expect(nameProblem('é'.repeat(128))).toMatch(/too long/)
  })
  it('accepts odd but valid names', () => {
    expect(nameProblem('-rf')).toBeNull()
    expect(nameProblem(' spaced ')).toBeNull()
    expect(nameProblem('日本語.txt')).toBeNull()
  })
})
