/**
 * Who is logged in, and the app's top-level state: starting, logged out, logged in,
 * or the server cannot be reached. The views switch on `session.status`.
 */
import { computed, reactive, shallowReadonly } from 'vue'
import { answerLoginStep, fetchServerInfo, fetchSession, isLoginStep, login, logout, type LoginAnswer } from '../api/auth'
import { api, ApiError } from '../api/client'
import type { LoginStep, ServerInfo, SessionAnswer, User } from '../api/types'
import { loadBundles, reportMissingViewers } from '../plugins/loader'
import { notify } from './notices'
import { preferences } from './preferences'

export type SessionStatus = 'starting' | 'unreachable' | 'anonymous' | 'authenticated'

interface SessionState {
  status: SessionStatus
  user: User | null
  server: ServerInfo | null
  /** Set when the server ended the session under our feet (a 401); shown on the login page. */
  sessionEnded: boolean
  /** Why start-up failed, when status is 'unreachable'. */
  startError: string | null
}

const state = reactive<SessionState>({
  status: 'starting',
  user: null,
  server: null,
  sessionEnded: false,
  startError: null,
})

export const session: Readonly<SessionState> = shallowReadonly(state)

/**
 * The user logged in with a one-time password and must choose their own before the
 * server allows anything else; the workspace shows nothing but that dialog meanwhile.
 */
export const passwordChangeRequired = computed(() => state.user?.must_change_password === true)

type LogoutHook = () => void | Promise<void>
const beforeLogoutHooks = new Set<LogoutHook>()

/** Run `hook` before a deliberate logout (e.g. to flush unsaved layout). Returns an unregister function. */
export function onBeforeLogout(hook: LogoutHook): () => void {
  beforeLogoutHooks.add(hook)
  return () => beforeLogoutHooks.delete(hook)
}

export function displayName(user: Pick<User, 'display_name' | 'username'>): string {
  return user.display_name?.trim() || user.username
}

/**
 * Settles once the plug-ins' bundles are loaded (or have failed, each with a notice): the
 * workspace waits for it, so that a saved layout finds the plug-ins' panes.
 */
let pluginsLoaded: Promise<unknown> = Promise.resolve()

async function enter(user: User): Promise<void> {
  await pluginsLoaded
  try {
    await preferences.load()
  } catch (error) {
    // The workspace still works with defaults; say so rather than block the user.
    const reason = error instanceof ApiError ? error.message : String(error)
    notify(`Your preferences could not be loaded, defaults are in use. ${reason}`)
  }
  state.user = user
  state.sessionEnded = false
  state.status = 'authenticated'
}

function leave(sessionEnded: boolean): void {
  api.csrfToken = null
  preferences.reset()
  state.user = null
  state.sessionEnded = sessionEnded
  state.status = 'anonymous'
}

/** Called by the API client for a 401 on any call but login. */
function handleUnauthorized(): void {
  if (state.status === 'authenticated') leave(true)
}

/**
 * Called by the API client for a 403 `password_change_required`: the password became a
 * one-time one after we logged in (an admin reset it). Ask for a new one.
 */
function handlePasswordChangeRequired(): void {
  if (state.status === 'authenticated' && state.user && !state.user.must_change_password) {
    state.user = { ...state.user, must_change_password: true }
  }
}

/**
 * The user changed their password (the server answered 204), so it is no longer a
 * one-time one. The session, and with it the CSRF token, stays as it is.
 */
export function passwordChanged(): void {
  if (state.user?.must_change_password) state.user = { ...state.user, must_change_password: false }
}

/** Find out who we are; run once when the app starts (and on "Retry"). */
export async function startSession(): Promise<void> {
  api.onUnauthorized = handleUnauthorized
  api.onPasswordChangeRequired = handlePasswordChangeRequired
  state.status = 'starting'
  state.startError = null
  pluginsLoaded = fetchServerInfo()
    .then((info) => {
      state.server = info
      return loadBundles(info.bundles ?? []).then((failures) => reportMissingViewers(info.viewers ?? [], failures))
    })
    .catch(() => {
      // The login page falls back to the plain name; the workspace offers every
      // registered pane, and with no viewers listed a file opens by the front end's own
      // rules (editor, download, or a look at its first bytes).
    })
  try {
    const answer = await fetchSession()
    await enter(answer.user)
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) {
      state.status = 'anonymous'
      return
    }
    state.startError = error instanceof Error ? error.message : String(error)
    state.status = 'unreachable'
  }
}

/**
 * Where the browser goes when it leaves labgate's page (to sign out at an identity
 * provider); replaced in tests, where there is no page to leave.
 */
export const pageExit = {
  assign(url: string): void {
    window.location.assign(url)
  },
}

async function settle(answer: LoginAnswer): Promise<LoginStep | null> {
  if (isLoginStep(answer)) return answer
  await enter(answer.user)
  return null
}

/**
 * Log in with the form: enters the workspace, or gives the further prompts the sign-in
 * provider asks (a second factor) for {@link answerStep}. Rejects with the server's
 * ApiError (shown by the login form).
 */
export async function logIn(username: string, password: string): Promise<LoginStep | null> {
  return settle(await login(username, password))
}

/** Answer a sign-in's further prompts: enters the workspace, or gives the next prompts. */
export async function answerStep(step: string, answers: string[]): Promise<LoginStep | null> {
  return settle(await answerLoginStep(step, answers))
}

/** Only a web page is followed: never a `javascript:` URL, whatever a provider is set up with. */
function isWebAddress(url: string): boolean {
  try {
    const protocol = new URL(url, window.location.href).protocol
    return protocol === 'https:' || protocol === 'http:'
  } catch {
    return false
  }
}

/** Logged in some other way than the form (a guest who joined with an invitation). */
export async function signedIn(answer: SessionAnswer): Promise<void> {
  await enter(answer.user)
}

export async function logOut(): Promise<void> {
  for (const hook of [...beforeLogoutHooks]) {
    try {
      await hook()
    } catch (error) {
      console.warn('labgate: a logout hook failed', error)
    }
  }
  let providerLogout: string | null = null
  try {
    providerLogout = await logout()
  } catch (error) {
    // A 401 here means the session was already gone, which is what we wanted.
    if (!(error instanceof ApiError && error.status === 401)) {
      notify(error instanceof Error ? error.message : String(error))
      return
    }
  }
  leave(false)
  // The session began at an identity provider that signs out too: go there (it sends the
  // browser back to the login page).
  if (providerLogout !== null && isWebAddress(providerLogout)) pageExit.assign(providerLogout)
}
