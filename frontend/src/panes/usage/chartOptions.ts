/**
 * A usage figure (api/usage.ts) as uPlot's data and options: days on a UTC time axis,
 * stacked bars for parts of a whole (sessions by template, hours by group), lines for
 * values to compare (active users, launch times), in the theme's colours
 * (`--lg-chart-*` and the text and border tokens of styles/theme.css).
 *
 * uPlot does not stack: a stacked figure is drawn as running totals, the topmost first,
 * each bar painted over the one before from the ground up, so every series shows as its
 * own slice. Its built-in legend would show those totals; the pane draws its own.
 */
import uPlot from 'uplot'
import type { DayRange, FigureSeries, UsageFigure } from '../../api/usage'

/** Reads one CSS custom property, e.g. from `getComputedStyle(document.documentElement)`. */
export type TokenReader = (name: string) => string

export const PALETTE_SIZE = 12
/** The name the server gives the sum of the smallest series. */
export const OTHER = 'other'

export interface ChartTokens {
  text: string
  muted: string
  grid: string
  surface: string
  palette: string[]
  font: string
}

export function chartTokens(read: TokenReader): ChartTokens {
  const token = (name: string, fallback: string): string => read(name).trim() || fallback
  const palette = Array.from({ length: PALETTE_SIZE }, (_, n) => token(`--lg-chart-${n + 1}`, '#0f766e'))
  const family = token('--lg-font-sans', 'sans-serif')
  return {
    text: token('--lg-text', '#1d232a'),
    muted: token('--lg-text-muted', '#56606b'),
    grid: token('--lg-border', '#dde1e6'),
    surface: token('--lg-surface', '#ffffff'),
    palette,
    font: `12px ${family}`,
  }
}

/** The colour of the figure's `index`-th series; "other" is always the palette's last. */
export function seriesColour(series: FigureSeries[], index: number, palette: string[]): string {
  if (series[index]?.name === OTHER) return palette[palette.length - 1] ?? '#888'
  return palette[index % (palette.length - 1)] ?? '#888'
}

const DAY_SECONDS = 86_400
// Counts (sessions, users, failures) are whole: their axis has whole steps.
const WHOLE_STEPS = [1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000, 10_000, 20_000, 50_000]
const COUNT_UNITS = new Set(['sessions', 'users', 'failures'])
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec']
// Ticks on the time axis fall on whole days, however few the days.
const DAY_STEPS = [1, 2, 3, 7, 14, 28, 56, 91, 182, 364].map((days) => days * DAY_SECONDS)

/** A tick on the days axis: "8 Nov", with the year under the first tick and each January. */
export function dayTick(seconds: number, first: boolean): string {
  const day = new Date(seconds * 1000)
  const text = `${day.getUTCDate()} ${MONTHS[day.getUTCMonth()]}`
  return first || (day.getUTCMonth() === 0 && day.getUTCDate() <= 7) ? `${text}\n${day.getUTCFullYear()}` : text
}

/** A `YYYY-MM-DD` day as the Unix time (seconds) of its UTC midnight. */
export function dayStart(label: string): number {
  return Date.parse(`${label}T00:00:00Z`) / 1000
}

/** Nothing to draw: no series, or every value zero or missing. */
export function isEmpty(figure: UsageFigure): boolean {
  return !figure.series.some((s) => s.values.some((v) => v !== null && v !== 0))
}

/** Running totals from the first series up: `totals[i][d]` = series 0..i on day `d`. */
export function runningTotals(series: FigureSeries[]): number[][] {
  const totals: number[][] = []
  series.forEach((s, i) => {
    totals.push(s.values.map((v, d) => (v ?? 0) + (i > 0 ? (totals[i - 1]?.[d] ?? 0) : 0)))
  })
  return totals
}

/** uPlot's data: the days, then one array per drawn series (stacked: totals, topmost first). */
export function chartData(figure: UsageFigure): uPlot.AlignedData {
  const x = figure.labels.map(dayStart)
  if (figure.style === 'stacked') return [x, ...runningTotals(figure.series).reverse()]
  return [x, ...figure.series.map((s) => s.values)]
}

/** Which series of the figure uPlot's series `drawn` (1-based) is. */
export function figureIndex(figure: UsageFigure, drawn: number): number {
  return figure.style === 'stacked' ? figure.series.length - drawn : drawn - 1
}

/** A value for people: whole numbers as they are, others with one decimal, and those
 * below 1 with two significant digits (0.0034 core-hours is not "0"). */
export function formatValue(value: number | null | undefined, unit: string): string {
  if (value === null || value === undefined) return '–'
  const small = !Number.isInteger(value) && Math.abs(value) < 1
  const number = small
    ? value.toLocaleString('en', { maximumSignificantDigits: 2 })
    : value.toLocaleString('en', { maximumFractionDigits: Number.isInteger(value) ? 0 : 1 })
  return unit === 'seconds' ? `${number} s` : number
}

/** The options for uPlot (without its size, which the chart's box decides). */
export function chartOptions(figure: UsageFigure, tokens: ChartTokens): Omit<uPlot.Options, 'width' | 'height'> {
  const stacked = figure.style === 'stacked'
  const bars = uPlot.paths.bars?.({ size: [0.72, 40], gap: 1 })
  const series: uPlot.Series[] = [{}]
  for (let drawn = 1; drawn <= figure.series.length; drawn++) {
    const index = figureIndex(figure, drawn)
    const colour = seriesColour(figure.series, index, tokens.palette)
    const label = figure.series[index]?.name ?? ''
    series.push(
      stacked
        ? { label, stroke: colour, fill: colour, width: 0, paths: bars, points: { show: false } }
        : { label, stroke: colour, width: 2, spanGaps: false, points: { show: true, size: 5, fill: colour } },
    )
  }
  const axis = (extra: uPlot.Axis): uPlot.Axis => ({
    stroke: tokens.muted,
    font: tokens.font,
    labelFont: tokens.font,
    grid: { stroke: tokens.grid, width: 1 },
    ticks: { stroke: tokens.grid, width: 1 },
    ...extra,
  })
  return {
    // Days are UTC days: labels on the axis must not move with the browser's zone.
    tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), 'Etc/UTC'),
    legend: { show: false },
    cursor: { drag: { x: false, y: false }, points: { show: !stacked } },
    scales: {
      x: {
        time: true,
        // Half a day either side, so the first and last bars are whole.
        range: (_u, min, max) => [min - DAY_SECONDS / 2, max + DAY_SECONDS / 2],
      },
      y: { range: (_u, _min, max) => [0, max > 0 ? max * 1.1 : 1] },
    },
    axes: [
      axis({
        space: 56,
        incrs: DAY_STEPS,
        grid: { show: false },
        values: (_u, ticks) => ticks.map((t, n) => dayTick(t, n === 0)),
      }),
      axis({
        label: figure.unit,
        labelSize: 18,
        // Wide enough for the longest tick ("0.00075"), so the labels never cover the unit.
        size: (_u, values) => Math.max(48, 16 + 7 * Math.max(0, ...(values ?? []).map((v) => v.length))),
        ...(COUNT_UNITS.has(figure.unit) ? { incrs: WHOLE_STEPS } : {}),
        values: (_u, ticks) => ticks.map((t) => formatValue(t, '')),
      }),
    ],
    series,
  }
}

/** The `days` days up to and including `today` (UTC). */
export function rangeEnding(today: Date, days: number): DayRange {
  const to = today.toISOString().slice(0, 10)
  const from = new Date(Date.parse(`${to}T00:00:00Z`) - (days - 1) * DAY_SECONDS * 1000)
  return { from: from.toISOString().slice(0, 10), to }
}
