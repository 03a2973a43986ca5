/**
 * The launch form of an app template: which fields show (batch ones only for batch
 * launchers), their values as typed, checks before sending, and the server's 422
 * details (`body.form.cpus`) put back on their fields.
 */
import type { ApiError } from '../../api/client'
import type { AppSession, AppTemplateInfo, ResourceLauncher, TemplateField } from '../../api/sessions'

/** As the inputs hold them: text, a checkbox's state, or a number (Vue's v-model turns
 * what is typed into an `<input type="number">` into one). */
export type FormValues = Record<string, string | number | boolean>

export interface LastLaunch {
  resource_id?: number
  launcher?: string
  form?: Record<string, unknown>
}

/** The fields shown for a launcher; `batch`: it schedules batch jobs (as the server's
 * /api/v1/info `launchers` say), which adds CPUs, memory, GPUs, time. */
export function visibleFields(template: AppTemplateInfo, batch: boolean): TemplateField[] {
  return template.fields.filter((field) => batch || !field.batch_only)
}

/** Starting values: the last launch's where they fit, else the template's defaults. */
export function initialValues(template: AppTemplateInfo, last: LastLaunch | undefined): FormValues {
  const values: FormValues = {}
  for (const field of template.fields) {
    const remembered = last?.form?.[field.name]
    const value = remembered !== undefined ? remembered : field.default
    values[field.name] = field.kind === 'boolean' ? value === true : value === null || value === undefined ? '' : String(value)
  }
  return values
}

export interface Checked {
  form: Record<string, unknown>
  errors: Record<string, string>
}

/** The form as the API takes it (numbers as numbers), and what is wrong before sending. */
export function checkForm(template: AppTemplateInfo, batch: boolean, values: FormValues): Checked {
  const form: Record<string, unknown> = {}
  const errors: Record<string, string> = {}
  for (const field of visibleFields(template, batch)) {
    const value = values[field.name]
    if (field.kind === 'boolean') {
      form[field.name] = value === true
      continue
    }
    const text = typeof value === 'string' ? value : typeof value === 'number' ? String(value) : ''
    if (field.kind === 'integer') {
      if (!/^-?\d+$/.test(text.trim())) {
        errors[field.name] = 'Enter a whole number.'
        continue
      }
      const number = Number(text.trim())
      if (field.minimum !== null && number < field.minimum) errors[field.name] = `At least ${field.minimum}.`
      else if (field.maximum !== null && number > field.maximum) errors[field.name] = `At most ${field.maximum}.`
      form[field.name] = number
      continue
    }
    if (field.required && text.trim() === '') errors[field.name] = `${field.label} is needed.`
    form[field.name] = text
  }
  return { form, errors }
}

/** The 422 answer's messages by field name (`body.form.cpus` -> `cpus`). */
export function serverErrors(error: ApiError): Record<string, string> {
  const out: Record<string, string> = {}
  for (const detail of error.details) {
    // A launch's form, or a preset's (saved from the dialog).
    const match = /^body\.(?:preset\.)?form\.(.+)$/.exec(detail.field)
    if (match?.[1]) out[match[1]] = detail.message
  }
  return out
}

/** The launch form's values of a session, for "Edit and retry": exactly what was sent. */
export interface Retry {
  resourceId: number
  launcher: string
  form: Record<string, unknown>
}

export function retryOf(session: Pick<AppSession, 'resource_id' | 'launcher' | 'form'>): Retry {
  return { resourceId: session.resource_id, launcher: session.launcher, form: { ...session.form } }
}

// -- the environment lines, remembered per resource (and per template where they differ) --

/** The preference holding them: by resource id, then by template id, with `*` for the
 * lines last used with any template on that resource. */
export const ENVIRONMENT_KEY = 'sessions.environment'
export type RememberedEnvironments = Record<string, Record<string, string>>
const ANY_TEMPLATE = '*'

/** The lines to start with on a resource: this template's own, else the ones last used
 * there with any template; undefined when nothing is remembered for the resource. */
export function rememberedEnvironment(remembered: RememberedEnvironments, resourceId: number, templateId: string): string | undefined {
  const forResource = remembered[String(resourceId)]
  return forResource?.[templateId] ?? forResource?.[ANY_TEMPLATE]
}

/** `remembered` with `lines` kept for the resource and the template (a new object). */
export function rememberEnvironment(remembered: RememberedEnvironments, resourceId: number, templateId: string, lines: string): RememberedEnvironments {
  const key = String(resourceId)
  return { ...remembered, [key]: { ...(remembered[key] ?? {}), [templateId]: lines, [ANY_TEMPLATE]: lines } }
}

/** `remembered` without anything for the resource (a new object). */
export function forgetEnvironment(remembered: RememberedEnvironments, resourceId: number): RememberedEnvironments {
  return Object.fromEntries(Object.entries(remembered).filter(([key]) => key !== String(resourceId)))
}

// -- the launchers a resource can use ---------------------------------------------------

export interface MissingLauncher {
  name: string
  title: string
  reason: string
}

/** Of the template's launchers, those the resource can use (in the template's order),
 * and those it cannot with why. `answers` null (the resource could not be asked):
 * all are offered. A launcher the answers do not name is offered too. */
export function offeredLaunchers(templateLaunchers: readonly string[], answers: readonly ResourceLauncher[] | null): { offered: string[]; missing: MissingLauncher[] } {
  const byName = new Map((answers ?? []).map((answer) => [answer.name, answer]))
  const offered: string[] = []
  const missing: MissingLauncher[] = []
  for (const name of templateLaunchers) {
    const answer = byName.get(name)
    if (answer?.unusable) missing.push({ name, title: answer.title, reason: answer.unusable })
    else offered.push(name)
  }
  return { offered, missing }
}
