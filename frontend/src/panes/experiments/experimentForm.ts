/** The administrators' experiment form: members typed one a line as in the CSV format
 * (`alice:pi`, `bob@uni.example`, `carol:local_contact`), dates as days. */
import type { Experiment, ExperimentInput, ExperimentRole, LocationKind } from '../../api/experiments'

const ROLES: readonly string[] = ['pi', 'member', 'local_contact']

export interface ExperimentDraft {
  code: string
  title: string
  instrument: string
  /** `2026-11-03` or '' (none). */
  starts: string
  ends: string
  members: string
  locations: { resource_id: number | null; kind: LocationKind; path: string }[]
}

export function emptyDraft(): ExperimentDraft {
  return { code: '', title: '', instrument: '', starts: '', ends: '', members: '', locations: [] }
}

export function draftOf(e: Experiment): ExperimentDraft {
  return {
    code: e.code,
    title: e.title,
    instrument: e.instrument,
    starts: e.starts_at ? e.starts_at.slice(0, 10) : '',
    ends: e.ends_at ? e.ends_at.slice(0, 10) : '',
    members: e.members.map((m) => `${m.username || m.email}:${m.role}`).join('\n'),
    locations: e.locations.map((l) => ({ resource_id: l.resource_id, kind: l.kind, path: l.path })),
  }
}

/** The draft as the API takes it, or what is wrong with it (by field). */
export function inputOf(draft: ExperimentDraft): { input: ExperimentInput } | { errors: Record<string, string> } {
  const errors: Record<string, string> = {}
  const members: ExperimentInput['members'] = []
  for (const line of draft.members.split('\n')) {
    const text = line.trim()
    if (!text) continue
    const [name = '', role = 'member'] = text.split(':').map((part) => part.trim())
    if (!ROLES.includes(role)) {
      errors.members = `“${text}”: the role must be pi, member or local_contact.`
      continue
    }
    members.push(name.includes('@') ? { email: name, role: role as ExperimentRole } : { username: name, role: role as ExperimentRole })
  }
  const locations: ExperimentInput['locations'] = []
  draft.locations.forEach((l, n) => {
    if (l.resource_id === null) errors[`locations.${n}`] = 'Choose a resource.'
    else if (!l.path.startsWith('/')) errors[`locations.${n}`] = 'An absolute path, such as /data/12-34/raw.'
    else locations.push({ resource_id: l.resource_id, kind: l.kind, path: l.path })
  })
  if (!draft.code.trim()) errors.code = 'The experiment’s code (its proposal number) is required.'
  if (draft.starts && draft.ends && draft.ends < draft.starts) errors.ends = 'It ends before it starts.'
  if (Object.keys(errors).length) return { errors }
  const day = (text: string): string | null => (text ? `${text}T00:00:00Z` : null)
  return {
    input: {
      code: draft.code.trim(),
      title: draft.title.trim(),
      instrument: draft.instrument.trim(),
      starts_at: day(draft.starts),
      ends_at: day(draft.ends),
      members,
      locations,
    },
  }
}
