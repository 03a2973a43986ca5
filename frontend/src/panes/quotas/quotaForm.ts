/** The quota editor's fields: each limit typed as text, blank for none. */
import { LIMIT_NAMES, type QuotaLimits } from '../../api/quotas'

export type LimitInputs = Record<keyof QuotaLimits, string>

export function inputsOf(limits: QuotaLimits): LimitInputs {
  return Object.fromEntries(LIMIT_NAMES.map((name) => [name, limits[name] === null ? '' : String(limits[name])])) as LimitInputs
}

/** The limits typed in, or a message per field that is not a whole number from 0 on. */
export function limitsOf(inputs: LimitInputs): { limits: QuotaLimits; errors: Partial<Record<keyof QuotaLimits, string>> } {
  const limits = {} as QuotaLimits
  const errors: Partial<Record<keyof QuotaLimits, string>> = {}
  for (const name of LIMIT_NAMES) {
    const text = String(inputs[name] ?? '').trim()
    if (text === '') {
      limits[name] = null
    } else if (/^\d{1,8}$/.test(text)) {
      limits[name] = Number(text)
    } else {
      limits[name] = null
      errors[name] = 'A whole number from 0 on, or blank for no limit.'
    }
  }
  return { limits, errors }
}

/** A limit in a table cell: "—" for none. */
export function cell(value: number | null): string {
  return value === null ? '—' : String(value)
}
