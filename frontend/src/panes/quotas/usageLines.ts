/** A quota's limits with their usage as lines for people: one per limit that applies,
 * "120 of 500 core-hours used this month". */
import type { QuotaLimits, QuotaWithUsage } from '../../api/quotas'

export interface UsageLine {
  key: keyof QuotaLimits
  label: string
  value: number
  max: number
  text: string
}

/** Hours as people read them: whole from 10 on, else to a tenth. */
export function hours(value: number): string {
  return value >= 10 ? String(Math.round(value)) : String(Math.round(value * 10) / 10)
}

const LINES: { key: keyof QuotaLimits; label: string; used: (q: QuotaWithUsage) => number; text: (used: number, max: number) => string }[] = [
  { key: 'max_sessions', label: 'Sessions', used: (q) => q.usage.sessions, text: (u, m) => `${u} of ${m} sessions running` },
  { key: 'max_cores', label: 'CPU cores', used: (q) => q.usage.cores, text: (u, m) => `${u} of ${m} cores in use` },
  { key: 'max_memory_gb', label: 'Memory', used: (q) => q.usage.memory_gb, text: (u, m) => `${u} of ${m} GB in use` },
  { key: 'max_gpus', label: 'GPUs', used: (q) => q.usage.gpus, text: (u, m) => `${u} of ${m} GPUs in use` },
  {
    key: 'core_hours_per_month',
    label: 'Core-hours',
    used: (q) => q.usage.core_hours,
    text: (u, m) => `${hours(u)} of ${m} core-hours used this month`,
  },
  {
    key: 'gpu_hours_per_month',
    label: 'GPU-hours',
    used: (q) => q.usage.gpu_hours,
    text: (u, m) => `${hours(u)} of ${m} GPU-hours used this month`,
  },
]

export function usageLines(quota: QuotaWithUsage): UsageLine[] {
  const lines: UsageLine[] = []
  for (const line of LINES) {
    const max = quota.limits[line.key]
    if (max === null) continue
    const value = line.used(quota)
    lines.push({ key: line.key, label: line.label, value, max, text: line.text(value, max) })
  }
  return lines
}

/** The limit's name for people, as a form's label. */
export const LIMIT_LABELS: Record<keyof QuotaLimits, string> = {
  max_sessions: 'Sessions at once',
  max_cores: 'CPU cores at once',
  max_memory_gb: 'Memory at once (GB)',
  max_gpus: 'GPUs at once',
  core_hours_per_month: 'Core-hours a month',
  gpu_hours_per_month: 'GPU-hours a month',
}
