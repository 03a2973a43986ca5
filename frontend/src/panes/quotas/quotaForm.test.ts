import { describe, expect, it } from 'vitest'
import { NO_LIMITS } from '../../api/quotas'
import { cell, inputsOf, limitsOf } from './quotaForm'

describe('the quota form', () => {
  it('turns blanks into no limit and numbers into limits', () => {
    const inputs = { ...inputsOf(NO_LIMITS), max_gpus: ' 4 ', core_hours_per_month: '0' }
    expect(limitsOf(inputs)).toEqual({ limits: { ...NO_LIMITS, max_gpus: 4, core_hours_per_month: 0 }, errors: {} })
  })

  it('names each field that is not a whole number from 0 on', () => {
    const inputs = { ...inputsOf(NO_LIMITS), max_cores: '-1', max_memory_gb: '2.5', max_sessions: 'ten' }
    expect(Object.keys(limitsOf(inputs).errors).sort()).toEqual(['max_cores', 'max_memory_gb', 'max_sessions'])
  })

  it('shows limits as text and back', () => {
    expect(inputsOf({ ...NO_LIMITS, max_sessions: 10 }).max_sessions).toBe('10')
    expect([cell(null), cell(0), cell(12)]).toEqual(['—', '0', '12'])
  })
})
