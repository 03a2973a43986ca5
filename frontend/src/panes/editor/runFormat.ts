/** How a run's end and length are shown in the output pane's header. */
import type { RunSnapshot } from './runSession'

/** "0.4 s", "12 s", "3 min 20 s", "2 h 05 min". */
export function formatDuration(ms: number): string {
  if (ms < 0) ms = 0
  if (ms < 10_000) return `${(ms / 1000).toFixed(1)} s`
  const seconds = Math.round(ms / 1000)
  if (seconds < 60) return `${seconds} s`
  const minutes = Math.floor(seconds / 60)
  if (minutes < 60) return `${minutes} min ${String(seconds % 60).padStart(2, '0')} s`
  return `${Math.floor(minutes / 60)} h ${String(minutes % 60).padStart(2, '0')} min`
}

export type RunTone = 'neutral' | 'running' | 'success' | 'failure'

/** The header's status text and colour. */
export function runStatus(run: RunSnapshot, now: number): { text: string; tone: RunTone } {
  const elapsed = run.startedAt !== null ? formatDuration((run.endedAt ?? now) - run.startedAt) : ''
  switch (run.phase) {
    case 'idle':
      return { text: 'Not run yet', tone: 'neutral' }
    case 'starting':
      return { text: 'Starting…', tone: 'running' }
    case 'running':
      return { text: run.reconnecting ? `Running, ${elapsed} (reconnecting…)` : `Running, ${elapsed}`, tone: 'running' }
    case 'stopping':
      return { text: `Stopping… ${elapsed}`, tone: 'running' }
    case 'failed':
      return { text: run.error ?? 'Could not start', tone: 'failure' }
    case 'exited': {
      const exit = run.exit
      if (exit?.signal) return { text: `Stopped by SIG${exit.signal} after ${elapsed}`, tone: 'failure' }
      const code = exit?.exit_status ?? null
      if (code === 0) return { text: `Finished (exit status 0) in ${elapsed}`, tone: 'success' }
      return { text: `Failed (exit status ${code ?? '?'}) after ${elapsed}`, tone: 'failure' }
    }
  }
}
