import { describe, expect, it } from 'vitest'
import { expandRunCommand, parseRunCommands, runKey, runTemplate, shellQuote } from './runCommands'

describe('run commands', () => {
  it('chooses by exact name first, then by extension, the user over the built-ins', () => {
    expect(runTemplate('fit.py', {})).toBe('python3 -u %file')
    expect(runTemplate('fit.PY', {})).toBe('python3 -u %file')
    expect(runTemplate('fit.py', { py: 'python3.12 %file' })).toBe('python3.12 %file')
    expect(runTemplate('Makefile', {})).toBe('make')
    expect(runKey('Makefile')).toBe('Makefile')
    expect(runKey('a.tar.gz')).toBe('gz')
    expect(runTemplate('notes.txt', {})).toBeNull()
    // An empty command turns Run off for that kind of file.
    expect(runTemplate('fit.py', { py: '  ' })).toBeNull()
  })

  it('fills in the placeholders, quoted for the shell', () => {
    expect(expandRunCommand('python3 -u %file', { path: '/home/a/fit.py' })).toEqual({
      command: 'python3 -u /home/a/fit.py',
      cwd: '/home/a',
    })
    expect(expandRunCommand('cc -o %stem %file && ./%stem', { path: "/data/it's here/main.c" })).toEqual({
      command: `cc -o main '/data/it'\\''s here/main.c' && ./main`,
      cwd: "/data/it's here",
    })
    expect(expandRunCommand('bash %name', { path: '/x.sh' })).toEqual({ command: 'bash x.sh', cwd: '/' })
  })

  it('never lets a name become an option or a second command', () => {
    expect(shellQuote('-rf')).toBe(`'./''-rf'`)
    expect(shellQuote('a; rm -rf ~')).toBe(`'a; rm -rf ~'`)
    expect(shellQuote('$(reboot)')).toBe(`'$(reboot)'`)
    expect(shellQuote('plain_name-1.py')).toBe('plain_name-1.py')
  })

  it('keeps only string commands from the preference', () => {
    expect(parseRunCommands({ py: 'x', sh: 3 })).toEqual({ py: 'x' })
    expect(parseRunCommands(null)).toEqual({})
    expect(parseRunCommands(['a'])).toEqual({})
  })
})
