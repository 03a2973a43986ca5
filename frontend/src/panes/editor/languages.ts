/**
 * Which language an editor uses for a file, chosen by its name. Each language's code is
 * loaded only when a file of that kind is first opened, so the editor's bundle does not
 * carry every grammar.
 */
import type { StreamParser } from '@codemirror/language'
import type { Extension } from '@codemirror/state'

export interface LanguageInfo {
  /** Shown in the status bar. */
  label: string
  load: () => Promise<Extension>
}

async function legacy(load: () => Promise<StreamParser<unknown>>): Promise<Extension> {
  const [{ StreamLanguage }, mode] = await Promise.all([import('@codemirror/language'), load()])
  return StreamLanguage.define(mode)
}

const python: LanguageInfo = { label: 'Python', load: async () => (await import('@codemirror/lang-python')).python() }
const cpp: LanguageInfo = { label: 'C/C++', load: async () => (await import('@codemirror/lang-cpp')).cpp() }
const json: LanguageInfo = { label: 'JSON', load: async () => (await import('@codemirror/lang-json')).json() }
const yaml: LanguageInfo = { label: 'YAML', load: async () => (await import('@codemirror/lang-yaml')).yaml() }
const markdown: LanguageInfo = { label: 'Markdown', load: async () => (await import('@codemirror/lang-markdown')).markdown() }
const html: LanguageInfo = { label: 'HTML', load: async () => (await import('@codemirror/lang-html')).html() }
const javascript: LanguageInfo = {
  label: 'JavaScript',
  load: async () => (await import('@codemirror/lang-javascript')).javascript(),
}
const typescript: LanguageInfo = {
  label: 'TypeScript',
  load: async () => (await import('@codemirror/lang-javascript')).javascript({ typescript: true }),
}
const shell: LanguageInfo = {
  label: 'Shell',
  load: () => legacy(async () => (await import('@codemirror/legacy-modes/mode/shell')).shell),
}
const fortran: LanguageInfo = {
  label: 'Fortran',
  load: () => legacy(async () => (await import('@codemirror/legacy-modes/mode/fortran')).fortran),
}
const julia: LanguageInfo = {
  label: 'Julia',
  load: () => legacy(async () => (await import('@codemirror/legacy-modes/mode/julia')).julia),
}
const r: LanguageInfo = { label: 'R', load: () => legacy(async () => (await import('@codemirror/legacy-modes/mode/r')).r) }
const toml: LanguageInfo = {
  label: 'TOML',
  load: () => legacy(async () => (await import('@codemirror/legacy-modes/mode/toml')).toml),
}
const cmake: LanguageInfo = {
  label: 'CMake',
  load: () => legacy(async () => (await import('@codemirror/legacy-modes/mode/cmake')).cmake),
}
const dockerfile: LanguageInfo = {
  label: 'Dockerfile',
  load: () => legacy(async () => (await import('@codemirror/legacy-modes/mode/dockerfile')).dockerFile),
}
const properties: LanguageInfo = {
  label: 'INI',
  load: () => legacy(async () => (await import('@codemirror/legacy-modes/mode/properties')).properties),
}

const BY_EXTENSION: Record<string, LanguageInfo> = {
  py: python,
  pyw: python,
  pyi: python,
  c: cpp,
  h: cpp,
  cc: cpp,
  cpp: cpp,
  cxx: cpp,
  hh: cpp,
  hpp: cpp,
  hxx: cpp,
  cu: cpp,
  json: json,
  ipynb: json,
  yaml: yaml,
  yml: yaml,
  md: markdown,
  markdown: markdown,
  html: html,
  htm: html,
  js: javascript,
  mjs: javascript,
  cjs: javascript,
  ts: typescript,
  sh: shell,
  bash: shell,
  zsh: shell,
  slurm: shell,
  sbatch: shell,
  f: fortran,
  f90: fortran,
  f95: fortran,
  for: fortran,
  jl: julia,
  r: r,
  toml: toml,
  cmake: cmake,
  ini: properties,
  cfg: properties,
  conf: properties,
}

const BY_NAME: Record<string, LanguageInfo> = {
  'CMakeLists.txt': cmake,
  Dockerfile: dockerfile,
  Makefile: shell,
  '.bashrc': shell,
  '.bash_profile': shell,
  '.profile': shell,
  '.zshrc': shell,
}

/** The extension of a file name, lower-case, without the dot ('' for none or dotfiles). */
export function extensionOf(name: string): string {
  const dot = name.lastIndexOf('.')
  return dot > 0 ? name.slice(dot + 1).toLowerCase() : ''
}

/** The language for a file name, or null for plain text. */
export function languageFor(name: string): LanguageInfo | null {
  return BY_NAME[name] ?? BY_EXTENSION[extensionOf(name)] ?? null
}

/** The language of a script that starts with `#!`, for files without a telling name. */
export function languageForShebang(firstLine: string): LanguageInfo | null {
  if (!firstLine.startsWith('#!')) return null
  if (/\bpython[0-9.]*\b/.test(firstLine)) return python
  if (/\b(ba|z|k|da)?sh\b/.test(firstLine)) return shell
  if (/\bjulia\b/.test(firstLine)) return julia
  if (/\bRscript\b/.test(firstLine)) return r
  return null
}
