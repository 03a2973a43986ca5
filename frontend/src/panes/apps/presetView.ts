/**
 * How a preset is shown in the launcher: what it launches, in words ("JupyterLab on
 * cluster, SLURM, for experiment 12-34"), from the templates, resources and experiments the
 * tab knows.
 */
import type { PresetLaunch } from '../../api/favourites'

export interface Named {
  title?: string
  name?: string
}

export function presetSummary(
  launch: PresetLaunch,
  template: Named | undefined,
  resource: Named | undefined,
  launcherTitle: string | undefined,
  experimentCode?: string,
): string {
  const what = template?.title ?? launch.template
  const where = resource?.name ?? `resource ${launch.resource_id} (not yours now)`
  const parts = [`${what} on ${where}`]
  if (launch.launcher !== 'direct') parts.push(launcherTitle ?? launch.launcher)
  if (launch.experiment_id) parts.push(`for experiment ${experimentCode ?? `no. ${launch.experiment_id}`}`)
  return parts.join(', ')
}
