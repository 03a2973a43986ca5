import { describe, expect, it } from 'vitest'
import { ApiError } from '../../api/client'
import type { AppTemplateInfo, ResourceLauncher, TemplateField } from '../../api/sessions'
import {
  checkForm,
  forgetEnvironment,
  initialValues,
  offeredLaunchers,
  rememberEnvironment,
  rememberedEnvironment,
  retryOf,
  serverErrors,
  visibleFields,
  type RememberedEnvironments,
} from './launchForm'

function field(overrides: Partial<TemplateField>): TemplateField {
  return {
    name: 'x',
    label: 'X',
    kind: 'text',
    default: '',
    help: '',
    required: false,
    minimum: null,
    maximum: null,
    choices: [],
    batch_only: false,
    ...overrides,
  }
}

const template: AppTemplateInfo = {
  id: 'jupyterlab',
  title: 'JupyterLab',
  view: 'web',
  description: '',
  icon: 'jupyter',
  launchers: ['direct', 'slurm'],
  fields: [
    field({ name: 'workdir', label: 'Working directory', kind: 'path', default: '~' }),
    field({ name: 'logdir', label: 'Log directory', kind: 'path', required: true }),
    field({ name: 'cpus', label: 'CPUs', kind: 'integer', default: 1, minimum: 1, maximum: 64, batch_only: true }),
  ],
}

describe('launch form', () => {
  it('shows batch fields only for batch launchers', () => {
    expect(visibleFields(template, false).map((f) => f.name)).toEqual(['workdir', 'logdir'])
    expect(visibleFields(template, true).map((f) => f.name)).toEqual(['workdir', 'logdir', 'cpus'])
  })

  it('starts from the last launch where it fits', () => {
    expect(initialValues(template, undefined)).toEqual({ workdir: '~', logdir: '', cpus: '1' })
    expect(initialValues(template, { form: { workdir: '~/runs', cpus: 8 } })).toEqual({ workdir: '~/runs', logdir: '', cpus: '8' })
  })

  it('checks before sending and sends numbers as numbers', () => {
    const bad = checkForm(template, true, { workdir: '~', logdir: '', cpus: '-1' })
    expect(bad.errors).toEqual({ logdir: 'Log directory is needed.', cpus: 'At least 1.' })
    const good = checkForm(template, true, { workdir: '~', logdir: 'runs', cpus: '4' })
    expect(good).toEqual({ form: { workdir: '~', logdir: 'runs', cpus: 4 }, errors: {} })
    // A direct launch leaves batch fields out altogether.
    expect(checkForm(template, false, { workdir: '~', logdir: 'runs', cpus: 'x' }).form).toEqual({ workdir: '~', logdir: 'runs' })
  })

  it('takes what was typed into a number input, which arrives as a number', () => {
    const typed = checkForm(template, true, { workdir: '~', logdir: 'runs', cpus: 4 })
    expect(typed).toEqual({ form: { workdir: '~', logdir: 'runs', cpus: 4 }, errors: {} })
    expect(checkForm(template, true, { workdir: '~', logdir: 'runs', cpus: 1.5 }).errors).toEqual({ cpus: 'Enter a whole number.' })
    expect(checkForm(template, true, { workdir: '~', logdir: 'runs', cpus: 0 }).errors).toEqual({ cpus: 'At least 1.' })
  })

  it('puts the server’s messages back on their fields', () => {
    const error = new ApiError(422, 'validation_failed', 'CPUs must be at least 1.', [
      { field: 'body.form.cpus', message: 'CPUs must be at least 1.' },
      { field: 'body.template', message: 'unknown' },
    ])
    expect(serverErrors(error)).toEqual({ cpus: 'CPUs must be at least 1.' })
  })
})

describe('edit and retry', () => {
  it('brings back exactly what the failed launch sent', () => {
    const failed = { resource_id: 7, launcher: 'slurm', form: { workdir: '~/runs', logdir: 'tb', cpus: 4, environment: 'module load x' } }
    const again = retryOf(failed)
    expect(again).toEqual({ resourceId: 7, launcher: 'slurm', form: failed.form })
    expect(initialValues(template, { form: again.form })).toEqual({ workdir: '~/runs', logdir: 'tb', cpus: '4' })
    // A copy: editing the form does not change the session.
    again.form.workdir = '~/other'
    expect(failed.form.workdir).toBe('~/runs')
  })
})

describe('remembered environment lines', () => {
  it('are kept per resource, and per template where they differ', () => {
    let kept: RememberedEnvironments = {}
    expect(rememberedEnvironment(kept, 1, 'jupyterlab')).toBeUndefined()
    kept = rememberEnvironment(kept, 1, 'jupyterlab', 'source ~/venv/bin/activate')
    // Another app on the same resource starts from them; another resource does not.
    expect(rememberedEnvironment(kept, 1, 'tensorboard')).toBe('source ~/venv/bin/activate')
    expect(rememberedEnvironment(kept, 2, 'jupyterlab')).toBeUndefined()
    kept = rememberEnvironment(kept, 1, 'tensorboard', 'module load tensorflow')
    expect(rememberedEnvironment(kept, 1, 'tensorboard')).toBe('module load tensorflow')
    expect(rememberedEnvironment(kept, 1, 'jupyterlab')).toBe('source ~/venv/bin/activate')
    // A template never launched there gets the lines used last.
    expect(rememberedEnvironment(kept, 1, 'webapp')).toBe('module load tensorflow')
    kept = rememberEnvironment(kept, 2, 'webapp', '')
    expect(rememberedEnvironment(kept, 2, 'jupyterlab')).toBe('')
  })

  it('can be forgotten for one resource', () => {
    const kept = rememberEnvironment(rememberEnvironment({}, 1, 'jupyterlab', 'a'), 2, 'jupyterlab', 'b')
    const left = forgetEnvironment(kept, 1)
    expect(rememberedEnvironment(left, 1, 'jupyterlab')).toBeUndefined()
    expect(rememberedEnvironment(left, 2, 'jupyterlab')).toBe('b')
    expect(rememberedEnvironment(kept, 1, 'jupyterlab')).toBe('a') // not changed in place
  })
})

describe('offered launchers', () => {
  const answers: ResourceLauncher[] = [
    { name: 'direct', title: 'On the resource itself', batch: false, unusable: null },
    { name: 'slurm', title: 'As a SLURM batch job', batch: true, unusable: 'sbatch is not on its PATH.' },
  ]

  it('leaves out what the resource cannot use, saying why', () => {
    expect(offeredLaunchers(['direct', 'slurm'], answers)).toEqual({
      offered: ['direct'],
      missing: [{ name: 'slurm', title: 'As a SLURM batch job', reason: 'sbatch is not on its PATH.' }],
    })
  })

  it('offers all when the resource could not be asked, or did not name one', () => {
    expect(offeredLaunchers(['direct', 'slurm'], null)).toEqual({ offered: ['direct', 'slurm'], missing: [] })
    expect(offeredLaunchers(['direct', 'plugin'], answers).offered).toEqual(['direct', 'plugin'])
  })
})
