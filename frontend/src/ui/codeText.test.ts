import { describe, expect, it } from 'vitest'
import { codeParts } from './codeText'

describe('codeParts', () => {
  it('shows what is between backticks as code, without the backticks', () => {
    expect(codeParts('e.g. `source ~/venv/bin/activate`, `module load cuda`.')).toEqual([
      { text: 'e.g. ', code: false },
      { text: 'source ~/venv/bin/activate', code: true },
      { text: ', ', code: false },
      { text: 'module load cuda', code: true },
      { text: '.', code: false },
    ])
    expect(codeParts('no code here')).toEqual([{ text: 'no code here', code: false }])
    expect(codeParts('a lone ` stays')).toEqual([{ text: 'a lone ` stays', code: false }])
  })
})
