/**
 * Words of the Sessions list that depend on what a session is. A shared terminal is a
 * session of the built-in `terminal` template, which is not launchable (so not in the
 * template list) and whose `terminal` launcher only points at a terminal running already:
 * it is named as a terminal, and stopping it ends the sharing, not the terminal.
 */
import type { AppSession } from '../../api/sessions'

/** Beside the resource: how it runs ("direct", "slurm"), or "Terminal" for a shared terminal. */
export function runsAs(session: Pick<AppSession, 'view' | 'launcher'>): string {
  return session.view === 'terminal' ? 'Terminal' : session.launcher
}

/** The owner's button that ends the session. */
export function stopLabel(session: Pick<AppSession, 'view'>): string {
  return session.view === 'terminal' ? 'Stop sharing' : 'Stop'
}
