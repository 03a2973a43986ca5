import { describe, expect, it, vi } from 'vitest'
import type { UsageFigure } from '../../api/usage'
import {
  chartData,
  chartOptions,
  chartTokens,
  dayStart,
  dayTick,
  figureIndex,
  formatValue,
  isEmpty,
  rangeEnding,
  runningTotals,
  seriesColour,
} from './chartOptions'

// uPlot asks for the device's pixel ratio when it loads; jsdom has no matchMedia.
vi.hoisted(() => {
  const query = { matches: false, addEventListener: () => {}, removeEventListener: () => {} }
  window.matchMedia ??= (() => query) as unknown as typeof window.matchMedia
})

const stacked: UsageFigure = {
  name: 'sessions',
  title: 'Sessions',
  unit: 'sessions',
  style: 'stacked',
  labels: ['2026-11-30', '2026-12-01'],
  series: [
    { name: 'jupyterlab', values: [2, 1] },
    { name: 'desktop', values: [0, 3] },
    { name: 'other', values: [1, null] },
  ],
}
const tokens = chartTokens((name) => (name.startsWith('--lg-chart-') ? `#c${name.slice(11).padStart(2, '0')}` : ''))

describe('usage charts', () => {
  it('stacks series as running totals, drawn topmost first', () => {
    expect(runningTotals(stacked.series)).toEqual([
      [2, 1],
      [2, 4],
      [3, 4],
    ])
    const data = chartData(stacked)
    expect(data[0]).toEqual([dayStart('2026-11-30'), dayStart('2026-12-01')])
    expect(data.slice(1)).toEqual([
      [3, 4],
      [2, 4],
      [2, 1],
    ])
    // uPlot's first drawn series is the figure's last; its legend and colours follow.
    expect(figureIndex(stacked, 1)).toBe(2)
    const options = chartOptions(stacked, tokens)
    expect(options.series.map((s) => s.label)).toEqual([undefined, 'other', 'desktop', 'jupyterlab'])
    expect(options.series[1]?.fill).toBe('#c12')
  })

  it('draws lines as they are, gaps included', () => {
    const lines: UsageFigure = { ...stacked, style: 'lines', series: [{ name: 'p50', values: [null, 20] }] }
    expect(chartData(lines).slice(1)).toEqual([[null, 20]])
    expect(figureIndex(lines, 1)).toBe(0)
  })

  it('keeps grey for "other" and cycles the rest', () => {
    const many = Array.from({ length: 13 }, (_, n) => ({ name: `s${n}`, values: [1] }))
    expect(seriesColour(many, 0, tokens.palette)).toBe('#c01')
    expect(seriesColour(many, 11, tokens.palette)).toBe('#c01')
    expect(seriesColour(stacked.series, 2, tokens.palette)).toBe('#c12')
  })

  it('tells an empty figure and formats values', () => {
    expect(isEmpty(stacked)).toBe(false)
    expect(isEmpty({ ...stacked, series: [{ name: 'x', values: [0, null] }] })).toBe(true)
    expect(isEmpty({ ...stacked, series: [] })).toBe(true)
    expect(formatValue(null, 'sessions')).toBe('–')
    expect(formatValue(1200, 'sessions')).toBe('1,200')
    expect(formatValue(8.117, 'core-hours')).toBe('8.1')
    expect(formatValue(0.033, 'core-hours')).toBe('0.033')
    expect(formatValue(0.00341, 'core-hours')).toBe('0.0034')
    expect(formatValue(20, 'seconds')).toBe('20 s')
  })

  it('names days on the axis in UTC', () => {
    expect(dayTick(dayStart('2026-11-08'), true)).toBe('8 Nov\n2026')
    expect(dayTick(dayStart('2026-11-30'), false)).toBe('30 Nov')
    expect(dayTick(dayStart('2027-01-03'), false)).toBe('3 Jan\n2027')
  })

  it('makes ranges of whole UTC days', () => {
    expect(rangeEnding(new Date('2026-12-02T23:30:00Z'), 7)).toEqual({ from: '2026-11-26', to: '2026-12-02' })
    expect(rangeEnding(new Date('2026-03-01T00:10:00Z'), 1)).toEqual({ from: '2026-03-01', to: '2026-03-01' })
  })
})
