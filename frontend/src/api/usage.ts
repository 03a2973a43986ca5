/** Usage figures, for administrators (docs/api-contract.md, "Usage"). */
import { API_PREFIX, api, type ApiClient } from './client'

export const FIGURE_NAMES = [
  'sessions',
  'active-users',
  'core-hours-by-group',
  'gpu-hours-by-group',
  'core-hours-by-experiment',
  'gpu-hours-by-experiment',
  'launch-times',
  'failures',
] as const

export type FigureName = (typeof FIGURE_NAMES)[number]

export interface FigureSeries {
  name: string
  /** One value per day of `labels`; null where there is nothing to show that day. */
  values: (number | null)[]
}

export interface UsageFigure {
  name: FigureName
  title: string
  unit: string
  /** `stacked`: parts of a whole per day (bars); `lines`: values to compare. */
  style: 'stacked' | 'lines'
  /** The days, `YYYY-MM-DD` (UTC). */
  labels: string[]
  series: FigureSeries[]
}

/** A range of days, both included (`YYYY-MM-DD`, UTC). */
export interface DayRange {
  from: string
  to: string
}

function query(range: DayRange, extra: Record<string, string> = {}): string {
  return new URLSearchParams({ from: range.from, to: range.to, ...extra }).toString()
}

export function fetchFigure(name: FigureName, range: DayRange, client: ApiClient = api): Promise<UsageFigure> {
  return client.get<UsageFigure>(`/usage/${name}?${query(range)}`)
}

/** Where the figure downloads as CSV (an attachment). */
export function figureCsvUrl(name: FigureName, range: DayRange): string {
  return `${API_PREFIX}/usage/${name}?${query(range, { format: 'csv' })}`
}
