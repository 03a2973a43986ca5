import { describe, expect, it } from 'vitest'
import { NO_LIMITS, type QuotaWithUsage } from '../../api/quotas'
import { hours, usageLines } from './usageLines'

const quota = (limits: Partial<QuotaWithUsage['limits']>): QuotaWithUsage => ({
  scope: 'role',
  subject: 'user',
  title: 'Role user',
  limits: { ...NO_LIMITS, ...limits },
  usage: { sessions: 2, cores: 3, memory_gb: 8, gpus: 1, core_hours: 120.4, gpu_hours: 2.26 },
})

describe('usageLines', () => {
  it('gives one line per limit that applies, in a fixed order', () => {
    const lines = usageLines(quota({ gpu_hours_per_month: 50, max_sessions: 10, core_hours_per_month: 500 }))
    expect(lines.map((l) => [l.key, l.value, l.max, l.text])).toEqual([
      ['max_sessions', 2, 10, '2 of 10 sessions running'],
      ['core_hours_per_month', 120.4, 500, '120 of 500 core-hours used this month'],
      ['gpu_hours_per_month', 2.26, 50, '2.3 of 50 GPU-hours used this month'],
    ])
  })

  it('shows a limit of 0 (nothing allowed) and none for no limits', () => {
    expect(usageLines(quota({ max_gpus: 0 })).map((l) => l.text)).toEqual(['1 of 0 GPUs in use'])
    expect(usageLines(quota({}))).toEqual([])
  })

  it('rounds hours as people read them', () => {
    expect([hours(0), hours(9.96), hours(10.4), hours(1234.5)]).toEqual(['0', '10', '10', '1235'])
  })
})
