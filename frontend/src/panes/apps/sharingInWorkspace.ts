/**
 * What sharing adds to the logged-in workspace as a whole: an invitation link in the
 * address is shown once the workspace is ready and accepted if the user says so, and the owner hears of joins wherever
 * they are, support staff hear of requests for help with an Open button (the events socket
 * is held for that while the workspace is shown).
 */
import { watch } from 'vue'
import { getSession } from '../../api/sessions'
import { acceptInvitation, previewInvitation } from '../../api/sharing'
import { events } from '../../stores/events'
import { notify } from '../../stores/notices'
import { sessionsStore } from '../../stores/sessions'
import { openSession } from '../opening'
import { workspaceApi } from '../workspace'
import { acceptInviteFromAddress } from './invitationAccept'
import { askToJoin } from './invitationQuestion'
import { watchHelpRequests, watchJoins } from './joinNotices'

async function sessionTitle(id: string): Promise<string | null> {
  const known = sessionsStore.find(id)
  if (known) return known.title
  try {
    return (await getSession(id)).title
  } catch {
    return null
  }
}

/** Open a session told of by id (support staff asked for help): read it, then its pane. */
async function openById(id: string): Promise<void> {
  try {
    const session = await getSession(id)
    sessionsStore.upsert(session)
    openSession(session)
  } catch (e) {
    notify(`Could not open the session: ${e instanceof Error ? e.message : String(e)}`)
  }
}

/** Start; call the result when the workspace goes. */
export function startSharingInWorkspace(): () => void {
  const stopWatching = watch(
    workspaceApi,
    (dockview) => {
      if (!dockview) return
      queueMicrotask(() => stopWatching())
      void acceptInviteFromAddress({
        href: () => window.location.href,
        replace: (path) => window.history.replaceState(window.history.state, '', path),
        preview: (token) => previewInvitation(token),
        ask: askToJoin,
        accept: (token) => acceptInvitation(token),
        open: async (accepted) => {
          const joined = await getSession(accepted.session_id)
          sessionsStore.upsert(joined)
          notify(`You joined “${joined.title}”.`, 'info')
          openSession(joined)
        },
        notify: (message, kind) => notify(message, kind, kind === 'error' ? 0 : undefined),
      })
    },
    { immediate: true },
  )
  const stopJoins = watchJoins({ onEvent: (l) => events.onEvent(l), title: sessionTitle, notify: (m) => notify(m, 'info', 10_000) })
  const stopHelp = watchHelpRequests({
    onEvent: (l) => events.onEvent(l),
    notify: (m, open) => notify(m, 'info', 0, { label: 'Open', run: open }),
    open: (id) => void openById(id),
  })
  const releaseEvents = events.acquire()
  return () => {
    stopWatching()
    stopJoins()
    stopHelp()
    releaseEvents()
  }
}
