/**
 * A launch as the dialog shows it: its steps (the session's progress lines) each done,
 * under way or failed, and its failure's message split into the summary and the app's
 * decisive lines (which the server puts on lines of their own, see
 * labgate.launching.diagnosis).
 */
import type { AppSession } from '../../api/sessions'

/** `ended`: a step that was under way when the launch failed (waiting for an app that
 * never answered): not done, and not what failed either. */
export type StepStatus = 'done' | 'current' | 'failed' | 'ended'

export interface Step {
  text: string
  status: StepStatus
}

/** Every line done but the last: under way while the session launches, failed when it
 * failed (the server's last line is then what failed), done otherwise. When it failed,
 * the step before the failure that was still under way (its text ends in "…", as
 * "Waiting for JupyterLab to answer…") ended with it instead of being done. */
export function stepsOf(session: Pick<AppSession, 'progress' | 'state'>): Step[] {
  const last = session.progress.length - 1
  const failed = session.state === 'failed' || session.state === 'expired'
  const lastStatus: StepStatus = failed ? 'failed' : ['pending', 'starting'].includes(session.state) ? 'current' : 'done'
  return session.progress.map((text, index) => {
    if (index === last) return { text, status: lastStatus }
    const cutShort = failed && index === last - 1 && text.trimEnd().endsWith('…')
    return { text, status: cutShort ? 'ended' : 'done' }
  })
}

/** The message's first line (what happened) and the lines after it (what the app said). */
export function failureSummary(message: string): { summary: string; quoted: string[] } {
  const [summary = '', ...quoted] = message.split('\n')
  return { summary, quoted: quoted.filter((line) => line.trim() !== '') }
}
