import { describe, expect, it } from 'vitest'
import { ApiError } from '../../api/client'
import type { AppTemplateInfo, TemplateField } from '../../api/sessions'
import { checkForm, initialValues, serverErrors, visibleFields } from './launchForm'

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
