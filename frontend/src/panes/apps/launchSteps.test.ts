import { describe, expect, it } from 'vitest'
import { shownActions } from './failureActions'
import { failureSummary, stepsOf } from './launchSteps'

describe('launch steps', () => {
  const progress = ['Starting JupyterLab on box…', 'Waiting for JupyterLab to answer…']

  it('marks the last step under way while launching, failed when the launch failed', () => {
    expect(stepsOf({ progress, state: 'starting' }).map((s) => s.status)).toEqual(['done', 'current'])
    const failed = stepsOf({ progress: [...progress, 'JupyterLab exited with status 1.'], state: 'failed' })
    // The wait was cut short by the failure: not ticked as done.
    expect(failed.map((s) => s.status)).toEqual(['done', 'ended', 'failed'])
    expect(failed[2]?.text).toBe('JupyterLab exited with status 1.')
    expect(stepsOf({ progress: [...progress, 'JupyterLab is ready.'], state: 'running' }).map((s) => s.status)).toEqual(['done', 'done', 'done'])
    expect(stepsOf({ progress: [], state: 'pending' })).toEqual([])
  })

  it('splits a failure into its summary and the app’s own lines', () => {
    expect(failureSummary('JupyterLab exited with status 1.\nRunning as root is not recommended.')).toEqual({
      summary: 'JupyterLab exited with status 1.',
      quoted: ['Running as root is not recommended.'],
    })
    expect(failureSummary('jupyter-lab was not found on the resource.')).toEqual({ summary: 'jupyter-lab was not found on the resource.', quoted: [] })
  })

  it('shows the failure actions it knows, in the server’s order', () => {
    const actions = [
      { kind: 'future', label: 'Something new', resource_id: null },
      { kind: 'setup_apps', label: 'Set up JupyterLab and TensorBoard for me', resource_id: 7 },
      { kind: 'retry', label: 'Edit and retry', resource_id: null },
    ]
    // setup_apps has a component of its own (AppSetupOffer), not a footer button.
    expect(shownActions(actions)).toEqual([{ kind: 'retry', label: 'Edit and retry', resource_id: null }])
    expect(shownActions(undefined)).toEqual([])
  })
})
