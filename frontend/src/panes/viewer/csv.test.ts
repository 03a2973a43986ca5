import { describe, expect, it } from 'vitest'
import { CsvParser, guessDelimiter, parseCsv } from './csv'

describe('parseCsv', () => {
  it('splits rows and fields', () => {
    expect(parseCsv('a,b\n1,2\n', ',')).toEqual([['a', 'b'], ['1', '2']])
  })
  it('handles quotes, doubled quotes, delimiters and line breaks inside quotes', () => {
    expect(parseCsv('name,note\n"Smith, J","said ""hi""\nand left"\n', ',')).toEqual([
      ['name', 'note'],
      ['Smith, J', 'said "hi"\nand left'],
    ])
  })
  it('takes CRLF, a missing last line break, and empty fields', () => {
    expect(parseCsv('a,b\r\n1,\r\n,2', ',')).toEqual([['a', 'b'], ['1', ''], ['', '2']])
    expect(parseCsv('x\n""\n', ',')).toEqual([['x'], ['']])
  })
  it('parses tabs', () => {
    expect(parseCsv('a\tb\n1\t2', '\t')).toEqual([['a', 'b'], ['1', '2']])
  })
  it('gives the same rows however the text is cut into chunks', () => {
    const text = 'h1,h2\n"a,""b""",c\n"multi\nline",x\n'
    const whole = parseCsv(text, ',')
    for (let cut = 1; cut < text.length; cut += 1) {
      const parser = new CsvParser(',')
      const rows = [...parser.push(text.slice(0, cut)), ...parser.push(text.slice(cut)), ...parser.finish()]
      expect(rows, `cut at ${cut}`).toEqual(whole)
    }
  })
})

describe('guessDelimiter', () => {
  it('uses tab for .tsv and the most frequent delimiter otherwise', () => {
    expect(guessDelimiter('x.tsv', 'a,b,c')).toBe('\t')
    expect(guessDelimiter('x.csv', 'a;b;c')).toBe(';')
    expect(guessDelimiter('x.csv', 'a,b;c,d')).toBe(',')
    expect(guessDelimiter('x.csv', 'single')).toBe(',')
  })
})
