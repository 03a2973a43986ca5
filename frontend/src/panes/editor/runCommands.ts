/**
 * The command the Run button uses for a file, like VISPA's "python %file": chosen by the
 * file's extension from the user's `editor.run_commands` preference over the defaults
 * below, with placeholders filled in and shell-quoted.
 *
 * - `%file`: the file's absolute path;
 * - `%name`: its name;
 * - `%dir`: its folder (the command also runs there);
 * - `%stem`: the name without its extension (for compiled languages: `-o %stem`).
 */
import { extensionOf } from './languages'

/** Extension (no dot) or exact file name -> command template. */
export type RunCommands = Record<string, string>

export const DEFAULT_RUN_COMMANDS: Readonly<RunCommands> = {
  py: 'python3 -u %file',
  sh: 'bash %file',
  bash: 'bash %file',
  zsh: 'zsh %file',
  r: 'Rscript %file',
  jl: 'julia %file',
  js: 'node %file',
  pl: 'perl %file',
  rb: 'ruby %file',
  c: 'cc -O2 -o %stem %file && ./%stem',
  cpp: 'c++ -O2 -o %stem %file && ./%stem',
  cc: 'c++ -O2 -o %stem %file && ./%stem',
  f90: 'gfortran -O2 -o %stem %file && ./%stem',
  go: 'go run %file',
  Makefile: 'make',
  slurm: 'sbatch %file',
  sbatch: 'sbatch %file',
}

/** The key a file's command is stored under: its exact name if that has one, else its extension. */
export function runKey(name: string, commands: RunCommands = DEFAULT_RUN_COMMANDS): string {
  if (name in commands || name in DEFAULT_RUN_COMMANDS) return name
  return extensionOf(name)
}

/** The template for a file, the user's own first, or null when none is known. */
export function runTemplate(name: string, userCommands: RunCommands): string | null {
  const merged = { ...DEFAULT_RUN_COMMANDS, ...userCommands }
  const key = runKey(name, merged)
  const template = merged[key]
  return template === undefined || template.trim() === '' ? null : template
}

/** POSIX shell quoting: safe for any name, also ones with spaces, quotes or a leading dash. */
export function shellQuote(value: string): string {
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(value) && !value.startsWith('-')) return value
  const quoted = `'${value.replace(/'/g, `'\\''`)}'`
  // A leading dash stays a name, not an option, when it is a path: ./-x instead of -x.
  return value.startsWith('-') ? `'./'${quoted}` : quoted
}

export interface RunTarget {
  /** Absolute path of the file. */
  path: string
}

function split(path: string): { dir: string; name: string; stem: string } {
  const cut = path.lastIndexOf('/')
  const dir = cut <= 0 ? '/' : path.slice(0, cut)
  const name = path.slice(cut + 1)
  const dot = name.lastIndexOf('.')
  return { dir, name, stem: dot > 0 ? name.slice(0, dot) : name }
}

/** The shell command and the folder to run it in. */
export function expandRunCommand(template: string, target: RunTarget): { command: string; cwd: string } {
  const { dir, name, stem } = split(target.path)
  const values: Record<string, string> = { file: target.path, dir, name, stem }
  const command = template.replace(/%(file|dir|name|stem)\b/g, (_, key: string) => shellQuote(values[key] ?? ''))
  return { command, cwd: dir }
}

/** The process name a run carries, so a re-opened editor finds the file's last run. */
export function runProcessName(path: string): string {
  return `run:${path}`
}

/** Validate a preference value from the server (anything else: no user commands). */
export function parseRunCommands(value: unknown): RunCommands {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return {}
  const out: RunCommands = {}
  for (const [key, command] of Object.entries(value as Record<string, unknown>)) {
    if (typeof command === 'string') out[key] = command
  }
  return out
}
