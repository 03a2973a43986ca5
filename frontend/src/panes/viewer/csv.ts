/**
 * CSV and TSV for the table viewer (RFC 4180: quoted fields with doubled quotes and
 * line breaks inside). Parses a chunk at a time, so a large file is read in byte ranges
 * and the rows appear as they come.
 */

export type Delimiter = ',' | '\t' | ';'

/** The delimiter of a file: tab for .tsv/.tab, else whichever of `,` `\t` `;` the first line has most of. */
export function guessDelimiter(name: string, firstLine: string): Delimiter {
  if (/\.(tsv|tab)$/i.test(name)) return '\t'
  const counts = ([',', '\t', ';'] as const).map((d) => [d, firstLine.split(d).length - 1] as const)
  const best = counts.reduce((a, b) => (b[1] > a[1] ? b : a))
  return best[1] > 0 ? best[0] : ','
}

/**
 * A streaming parser: `push` text, get back the rows completed so far; `finish` returns
 * the last row (a file need not end with a line break).
 */
export class CsvParser {
  private field = ''
  private row: string[] = []
  private quoted = false
  /** A quote seen inside a quoted field: the next character decides (`""` or the end). */
  private quotePending = false
  private fieldStarted = false

  constructor(private readonly delimiter: Delimiter) {}

  push(text: string): string[][] {
    const rows: string[][] = []
    const d = this.delimiter
    for (let i = 0; i < text.length; i += 1) {
      const c = text[i] as string
      if (this.quotePending) {
        this.quotePending = false
        if (c === '"') {
          this.field += '"'
          continue
        }
        this.quoted = false
      }
      if (this.quoted) {
        if (c === '"') this.quotePending = true
        else this.field += c
        continue
      }
      if (c === '"' && !this.fieldStarted) {
        this.quoted = true
        this.fieldStarted = true
      } else if (c === d) {
        this.endField()
      } else if (c === '\n') {
        this.endField()
        rows.push(this.row)
        this.row = []
      } else if (c === '\r') {
        // \r\n: the \n ends the row; a lone \r is dropped.
      } else {
        this.field += c
        this.fieldStarted = true
      }
    }
    return rows
  }

  finish(): string[][] {
    if (this.quotePending) {
      this.quotePending = false
      this.quoted = false
    }
    if (this.fieldStarted || this.field !== '' || this.row.length > 0) {
      this.endField()
      const last = this.row
      this.row = []
      return [last]
    }
    return []
  }

  private endField(): void {
    this.row.push(this.field)
    this.field = ''
    this.fieldStarted = false
  }
}

/** A whole text at once. */
export function parseCsv(text: string, delimiter: Delimiter): string[][] {
  const parser = new CsvParser(delimiter)
  return [...parser.push(text), ...parser.finish()]
}
