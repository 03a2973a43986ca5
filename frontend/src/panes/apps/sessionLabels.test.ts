import { describe, expect, it } from 'vitest'
import { runsAs, stopLabel } from './sessionLabels'

describe('sessionLabels', () => {
  it('names a shared terminal as one, not by its launcher id, and its Stop as ending the sharing', () => {
    expect(runsAs({ view: 'terminal', launcher: 'terminal' })).toBe('Terminal')
    expect(stopLabel({ view: 'terminal' })).toBe('Stop sharing')
  })

  it('keeps the launcher and a plain Stop for apps and desktops', () => {
    expect(runsAs({ view: 'web', launcher: 'slurm' })).toBe('slurm')
    expect(runsAs({ view: 'desktop', launcher: 'direct' })).toBe('direct')
    expect(stopLabel({ view: 'desktop' })).toBe('Stop')
  })
})
