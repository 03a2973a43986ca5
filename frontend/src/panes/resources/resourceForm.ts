/**
 * The Add/Edit resource form, free of Vue: form values <-> API payload, the checks made
 * before sending, and the server's 422 details mapped to the fields they name.
 *
 * Error keys are the places in the form: `name`, `port`, `setup`, `hops.<row>.host`,
 * `overrides.<row>.account`, ... where `<row>` is the row's stable key (not its index,
 * so a message stays with its row when rows move), and `form` for the rest.
 */
import { ApiError } from '../../api/client'
import type {
  AuthMethod,
  HopInput,
  Resource,
  ResourceCreate,
  ResourceKind,
  ResourcePatch,
} from '../../api/resources'

export interface HopForm {
  /** Stable row key for Vue and for error keys. */
  key: number
  /** The hop's id on the server (keeps its remembered keys), null for a new one. */
  id: number | null
  host: string
  port: string
  username: string
  auth_method: AuthMethod
}

export interface OverrideForm {
  key: number
  user: string
  account: string
}

export interface ResourceForm {
  name: string
  host: string
  port: string
  username: string
  auth_method: AuthMethod
  python: string
  /** Environment set-up lines, one per line. */
  setup: string
  description: string
  hops: HopForm[]
  shared: boolean
  groups: string[]
  account_rule: string
  overrides: OverrideForm[]
}

export type FormErrors = Record<string, string[]>

export interface FormContext {
  mode: 'create' | 'edit'
  kind: ResourceKind
  /** The Shared section is there (administrators). */
  isAdmin: boolean
}

export const DEFAULT_PORT = 22
export const DEFAULT_PYTHON = 'python3'
export const DEFAULT_ACCOUNT_RULE = '{username}'

const STRING_FIELDS = ['name', 'host', 'port', 'username', 'auth_method', 'python', 'description'] as const
const HOP_FIELDS = ['host', 'port', 'username', 'auth_method'] as const

let lastKey = 0
export function rowKey(): number {
  lastKey += 1
  return lastKey
}

export function emptyHop(): HopForm {
  return { key: rowKey(), id: null, host: '', port: '', username: '', auth_method: 'password' }
}

export function emptyOverride(): OverrideForm {
  return { key: rowKey(), user: '', account: '' }
}

/** A new resource: `username` is the labgate user name, a good first guess for the remote one. */
export function emptyForm(username = ''): ResourceForm {
  return {
    name: '',
    host: '',
    port: '',
    username,
    auth_method: 'password',
    python: '',
    setup: '',
    description: '',
    hops: [],
    shared: false,
    groups: [],
    account_rule: DEFAULT_ACCOUNT_RULE,
    overrides: [],
  }
}

export function formFromResource(resource: Resource): ResourceForm {
  return {
    name: resource.name,
    host: resource.host,
    port: resource.port === DEFAULT_PORT ? '' : String(resource.port),
    username: resource.username,
    auth_method: resource.auth_method,
    python: resource.python === DEFAULT_PYTHON ? '' : resource.python,
    setup: resource.setup_lines.join('\n'),
    description: resource.description,
    hops: resource.hops.map((hop) => ({
      key: rowKey(),
      id: hop.id,
      host: hop.host,
      port: hop.port === DEFAULT_PORT ? '' : String(hop.port),
      username: hop.username,
      auth_method: hop.auth_method,
    })),
    shared: resource.shared,
    groups: [...resource.groups],
    account_rule: resource.account_rule || DEFAULT_ACCOUNT_RULE,
    overrides: Object.entries(resource.account_overrides).map(([user, account]) => ({ key: rowKey(), user, account })),
  }
}

/** The non-empty set-up lines, and the line of the textarea each one came from (1-based). */
export function setupLines(text: string): { lines: string[]; lineNumbers: number[] } {
  const lines: string[] = []
  const lineNumbers: number[] = []
  text.split(/\r?\n/).forEach((line, index) => {
    const trimmed = line.trim()
    if (trimmed !== '') {
      lines.push(trimmed)
      lineNumbers.push(index + 1)
    }
  })
  return { lines, lineNumbers }
}

/** A port as typed: '' is the default (null), else a whole number 1..65535, else NaN. */
export function parsePort(text: string): number | null {
  const trimmed = text.trim()
  if (trimmed === '') return null
  if (!/^\d+$/.test(trimmed)) return Number.NaN
  const port = Number(trimmed)
  return port >= 1 && port <= 65535 ? port : Number.NaN
}

/** The remote account of labgate user `user` on a shared resource (as the server computes it). */
export function remoteAccount(rule: string, overrides: Record<string, string>, user: string): string {
  return overrides[user] ?? rule.split('{username}').join(user)
}

export function isSharedForm(form: ResourceForm, context: FormContext): boolean {
  return context.kind === 'ssh' && form.shared
}

function add(errors: FormErrors, key: string, message: string): void {
  ;(errors[key] ??= []).push(message)
}

const PORT_MESSAGE = 'Enter a port from 1 to 65535, or leave it empty for 22.'

/** Checks made before anything is sent. An empty object: fine to send. */
export function checkForm(form: ResourceForm, context: FormContext): FormErrors {
  const errors: FormErrors = {}
  if (form.name.trim() === '') add(errors, 'name', 'Give the resource a name, e.g. “cluster”.')
  if (context.kind === 'local') {
    if (context.isAdmin) checkAccounts(form, errors)
    return errors
  }

  const shared = isSharedForm(form, context)
  if (form.host.trim() === '') add(errors, 'host', 'Enter the host name or address, e.g. login.example.org.')
  if (Number.isNaN(parsePort(form.port))) add(errors, 'port', PORT_MESSAGE)
  if (!shared && form.username.trim() === '') add(errors, 'username', 'Enter your user name on the host.')
  if (form.auth_method === 'certificate' && !shared) {
    add(errors, 'auth_method', 'Certificates from labgate are for shared resources only.')
  }
  form.hops.forEach((hop) => {
    if (hop.host.trim() === '') add(errors, `hops.${hop.key}.host`, 'Enter the jump host’s name or address.')
    if (Number.isNaN(parsePort(hop.port))) add(errors, `hops.${hop.key}.port`, PORT_MESSAGE)
    if (hop.auth_method === 'certificate' && !shared) {
      add(errors, `hops.${hop.key}.auth_method`, 'Certificates from labgate are for shared resources only.')
    }
  })
  if (shared && context.isAdmin) checkAccounts(form, errors)
  return errors
}

/**
 * Whether the form maps labgate users to accounts (the rule and its exceptions): an
 * administrator's shared resource, or `local` (each user's own OS account there when
 * the server runs as root).
 */
export function mapsAccounts(form: ResourceForm, context: FormContext): boolean {
  return context.isAdmin && (context.kind === 'local' || isSharedForm(form, context))
}

function checkAccounts(form: ResourceForm, errors: FormErrors): void {
  if (form.account_rule.trim() === '') {
    add(errors, 'account_rule', 'Enter the rule, e.g. {username} for the same name as in labgate.')
  }
  const seen = new Set<string>()
  for (const row of form.overrides) {
    const user = row.user.trim()
    if (user === '' && row.account.trim() === '') continue
    if (user === '') add(errors, `overrides.${row.key}.user`, 'Enter the labgate user name.')
    else if (seen.has(user)) add(errors, `overrides.${row.key}.user`, `${user} is listed twice.`)
    if (row.account.trim() === '') add(errors, `overrides.${row.key}.account`, 'Enter the account on the host.')
    seen.add(user)
  }
}

/** The exceptions as the form holds them now, by labgate user (rows being typed count). */
export function overridesOf(form: Pick<ResourceForm, 'overrides'>): Record<string, string> {
  return accountFields({ account_rule: '', overrides: form.overrides }).account_overrides ?? {}
}

function accountFields(form: Pick<ResourceForm, 'account_rule' | 'overrides'>): Pick<ResourceCreate, 'account_rule' | 'account_overrides'> {
  return {
    account_rule: form.account_rule.trim(),
    account_overrides: Object.fromEntries(
      form.overrides
        .filter((row) => row.user.trim() !== '' || row.account.trim() !== '')
        .map((row) => [row.user.trim(), row.account.trim()]),
    ),
  }
}

function accountKeys(form: ResourceForm, keys: Set<string>): void {
  for (const key of ['account_rule', 'overrides']) keys.add(key)
  for (const row of form.overrides) {
    keys.add(`overrides.${row.key}.user`)
    keys.add(`overrides.${row.key}.account`)
  }
}

export function hasErrors(errors: FormErrors): boolean {
  return Object.values(errors).some((messages) => messages.length > 0)
}

function hopPayload(hop: HopForm): HopInput {
  const payload: HopInput = {
    host: hop.host.trim(),
    username: hop.username.trim(),
    auth_method: hop.auth_method,
  }
  const port = parsePort(hop.port)
  payload.port = port ?? DEFAULT_PORT
  if (hop.id !== null) payload.id = hop.id
  return payload
}

/**
 * The body of POST (create) or PATCH (edit). Edits send every field the form shows, so
 * what the user sees is what is stored. Call after {@link checkForm} found nothing.
 */
export function payloadFromForm(form: ResourceForm, context: FormContext): ResourceCreate | ResourcePatch {
  const common = {
    name: form.name.trim(),
    description: form.description.trim(),
    python: form.python.trim() || DEFAULT_PYTHON,
    setup_lines: setupLines(form.setup).lines,
  }
  if (context.kind === 'local') return context.isAdmin ? { ...common, ...accountFields(form) } : common

  const shared = isSharedForm(form, context)
  const body: ResourceCreate = {
    ...common,
    host: form.host.trim(),
    port: parsePort(form.port) ?? DEFAULT_PORT,
    // A shared resource's account comes from the account rule, per user.
    username: shared ? '' : form.username.trim(),
    auth_method: form.auth_method,
    hops: form.hops.map(hopPayload),
  }
  if (context.mode === 'create' && shared) body.shared = true
  if (shared && context.isAdmin) {
    body.groups = [...form.groups]
    Object.assign(body, accountFields(form))
  }
  return body
}

/** The body of POST /resources (a new resource is always an SSH one). */
export function createPayload(form: ResourceForm, isAdmin: boolean): ResourceCreate {
  return payloadFromForm(form, { mode: 'create', kind: 'ssh', isAdmin }) as ResourceCreate
}

/** Every error key the dialog shows next to a field for this form. */
export function placedKeys(form: ResourceForm, context: FormContext): Set<string> {
  const keys = new Set<string>(['name', 'description', 'python', 'setup'])
  if (context.kind === 'local') {
    if (context.isAdmin) accountKeys(form, keys)
    return keys
  }
  const shared = isSharedForm(form, context)
  for (const key of ['host', 'port', 'auth_method', 'hops']) keys.add(key)
  if (!shared) keys.add('username')
  for (const hop of form.hops) for (const field of HOP_FIELDS) keys.add(`hops.${hop.key}.${field}`)
  if (shared && context.isAdmin) {
    keys.add('groups')
    accountKeys(form, keys)
  }
  return keys
}

/** Where a server field (`body.hops.0.host`) belongs in the form, or null (above the form). */
export function formKeyOf(field: string, form: ResourceForm, context: FormContext): string | null {
  const parts = field.split('.')
  if (parts[0] === 'body') parts.shift()
  const [head, second, third] = parts
  if (head === undefined || head === '') return null
  const shared = isSharedForm(form, context)

  if ((STRING_FIELDS as readonly string[]).includes(head)) {
    // A shared resource has no user name field: its account is the rule.
    return head === 'username' && shared ? 'account_rule' : head
  }
  switch (head) {
    case 'setup_lines':
      return 'setup'
    case 'groups':
    case 'account_rule':
      return head
    case 'hops': {
      if (second === undefined) return 'hops'
      const hop = form.hops[Number(second)]
      if (!hop) return 'hops'
      return `hops.${hop.key}.${third && (HOP_FIELDS as readonly string[]).includes(third) ? third : 'host'}`
    }
    case 'account_overrides': {
      if (second === undefined) return 'overrides'
      const row = form.overrides.find((r) => r.user.trim() === second)
      if (!row) return 'overrides'
      return `overrides.${row.key}.${third === '[key]' ? 'user' : 'account'}`
    }
    default:
      return null
  }
}

/**
 * Where to show a failed save. A 422 puts each detail next to its field (a set-up line's
 * message says which line), what has no field in the form goes above it. A 401 gives
 * null: the session ended and the app is on its way to the login page.
 */
export function errorsFromApi(error: unknown, form: ResourceForm, context: FormContext): FormErrors | null {
  if (!(error instanceof ApiError)) return { form: [error instanceof Error ? error.message : String(error)] }
  if (error.status === 401) return null
  const errors: FormErrors = {}
  if (error.status === 422 && error.details.length > 0) {
    const placed = placedKeys(form, context)
    const { lineNumbers } = setupLines(form.setup)
    for (const detail of error.details) {
      const message = detail.message || error.message
      const key = formKeyOf(detail.field, form, context)
      if (key === 'setup') {
        const index = Number(detail.field.split('.').pop())
        const line = Number.isInteger(index) ? lineNumbers[index] : undefined
        add(errors, 'setup', line !== undefined ? `Line ${line}: ${message}` : message)
      } else if (key !== null && placed.has(key)) {
        add(errors, key, message)
      } else {
        add(errors, 'form', message)
      }
    }
    return errors
  }
  add(errors, 'form', error.message)
  return errors
}

/** The first key with a message, in the order the fields appear (for focus). */
export function firstErrorKey(errors: FormErrors, form: ResourceForm): string | null {
  const order = [
    'form',
    'name',
    'host',
    'port',
    'username',
    'auth_method',
    ...form.hops.flatMap((hop) => HOP_FIELDS.map((f) => `hops.${hop.key}.${f}`)),
    'hops',
    'python',
    'setup',
    'description',
    'groups',
    'account_rule',
    ...form.overrides.flatMap((row) => [`overrides.${row.key}.user`, `overrides.${row.key}.account`]),
    'overrides',
  ]
  return order.find((key) => (errors[key]?.length ?? 0) > 0) ?? null
}

/** Move a row up (-1) or down (+1); a new array, or the same when it cannot move. */
export function moveRow<T>(rows: T[], index: number, delta: -1 | 1): T[] {
  const target = index + delta
  if (index < 0 || index >= rows.length || target < 0 || target >= rows.length) return rows
  const copy = [...rows]
  const [row] = copy.splice(index, 1)
  copy.splice(target, 0, row as T)
  return copy
}

/** Text for the login methods, and which are offered where. */
export const AUTH_METHOD_LABELS: Record<AuthMethod, string> = {
  password: 'Password',
  'keyboard-interactive': 'Keyboard-interactive (two-factor)',
  key: 'SSH key (given when connecting)',
  'generated-key': 'My labgate key',
  certificate: 'labgate certificate (shared only)',
}

export function methodsFor(shared: boolean): AuthMethod[] {
  const all: AuthMethod[] = ['password', 'keyboard-interactive', 'key', 'generated-key', 'certificate']
  return shared ? all : all.filter((m) => m !== 'certificate')
}
