/**
 * A launch as the dialog shows it: its steps (the session's progress lines) each done,
 * under way or failed, and its failure's message split into the summary and the app's
 * decisive lines (which the server puts on lines of their own, see
 * labgate.launching.diagnosis).
 */
import type { AppSession } from '../../api/sessions'

export type StepStatus = 'done' | 'current' | 'failed'

export interface Step {
  text: string
  status: StepStatus
}

/** Every line done but the last: under way while the session launches, failed when it
 * failed (the server's last line is then what failed), done otherwise. */
export function stepsOf(session: Pick<AppSession, 'progress' | 'state'>): Step[] {
  const last = session.progress.length - 1
  const lastStatus: StepStatus =
    session.state === 'failed' || session.state === 'expired' ? 'failed' : ['pending', 'starting'].includes(session.state) ? 'current' : 'done'
  return session.progress.map((text, index) => ({ text, status: index === last ? lastStatus : 'done' }))
}

/** The message's first line (what happened) and the lines after it (what the app said). */
export function failureSummary(message: string): { summary: string; quoted: string[] } {
  const [summary = '', ...quoted] = message.split('\n')
  return { summary, quoted: quoted.filter((line) => line.trim() !== '') }
}
