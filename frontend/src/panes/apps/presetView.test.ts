import { describe, expect, it } from 'vitest'
import { presetSummary } from './presetView'

const launch = { template: 'jupyterlab', resource_id: 3, launcher: 'direct', form: {} }

describe('presetSummary', () => {
  it('says what runs where, the launcher when it is not the direct one, and the experiment', () => {
    expect(presetSummary(launch, { title: 'JupyterLab' }, { name: 'local' }, 'Directly')).toBe('JupyterLab on local')
    expect(presetSummary({ ...launch, launcher: 'slurm', experiment_id: 12 }, { title: 'JupyterLab' }, { name: 'cluster' }, 'SLURM job', '12-34')).toBe(
      'JupyterLab on cluster, SLURM job, for experiment 12-34',
    )
    expect(presetSummary({ ...launch, experiment_id: 12 }, { title: 'JupyterLab' }, { name: 'local' }, 'Directly')).toBe(
      'JupyterLab on local, for experiment no. 12',
    )
  })

  it('names what the tab does not know by its id', () => {
    expect(presetSummary({ ...launch, launcher: 'slurm' }, undefined, undefined, undefined)).toBe(
      'jupyterlab on resource 3 (not yours now), slurm',
    )
  })
})
