/**
 * The ways on that a failed session offers (the API's `actions`, from
 * labgate.sessions.failure_actions): the failure view shows a button for each kind it
 * knows and leaves out the others, so the server may offer a kind before the front end
 * can do it. A new kind: its name here and its handling in LaunchDialog's `act`.
 */
import type { FailureAction } from '../../api/sessions'

/** `retry`: the launch form again with the session's values. */
export const KNOWN_FAILURE_ACTIONS: ReadonlySet<string> = new Set(['retry'])

/** The actions to show, in the server's order. */
export function shownActions(actions: readonly FailureAction[] | undefined): FailureAction[] {
  return (actions ?? []).filter((action) => KNOWN_FAILURE_ACTIONS.has(action.kind))
}
