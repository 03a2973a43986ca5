/**
 * What the end of a desktop's WebSocket means (docs/api-contract.md, the desktop
 * socket): the server's own close codes say why it refused or ended the desktop, and
 * everything else is a drop (network, server restart) that the pane recovers from by
 * opening a new socket.
 */
import { LOGIN_ENDED_MESSAGE } from '../../api/resources'

export const CLOSE_LOGIN_ENDED = 4401
export const CLOSE_NOT_ALLOWED = 4403
export const CLOSE_NO_DESKTOP = 4404
export const CLOSE_SESSION_ENDED = 4410
export const CLOSE_NOT_READY = 4503
/** The VNC server ended labgate's connection (reason `desktop_closed`) or refused it. */
export const CLOSE_DESKTOP = 4502
/** WebSocket's own "policy violation": a refusal too. */
const CLOSE_POLICY = 1008

export interface CloseVerdict {
  /** Open a new socket (after a wait) instead of giving up. */
  retry: boolean
  /** What the user is told. */
  message: string
}

export function judgeClose(code: number, reason: string): CloseVerdict {
  switch (code) {
    case CLOSE_LOGIN_ENDED:
      return { retry: false, message: LOGIN_ENDED_MESSAGE }
    case CLOSE_NOT_ALLOWED:
      return {
        retry: false,
        message:
          reason === 'access_withdrawn'
            ? 'Your access to this desktop was withdrawn.'
            : 'You are not allowed to see this desktop.',
      }
    case CLOSE_NO_DESKTOP:
      return { retry: false, message: 'There is no such desktop: the session is not (or no longer) there, or it is not a desktop.' }
    case CLOSE_SESSION_ENDED:
      return { retry: false, message: 'This session ended, and its desktop with it. Start a new one from the launcher.' }
    case CLOSE_NOT_READY:
      return { retry: true, message: 'The desktop cannot be reached just now.' }
    case CLOSE_DESKTOP:
      // The VNC server closed the connection: the session may be ending (the next socket
      // then says so) or the desktop dropped this viewer; either way a new socket tells.
      // A refusal of labgate's password or protocol is not mended by trying again.
      if (reason === 'desktop_closed') {
        return { retry: true, message: 'The desktop closed the connection.' }
      }
      return { retry: false, message: `The desktop refused the connection${reason ? ` (${reason})` : ''}.` }
    case CLOSE_POLICY:
      return { retry: false, message: `The server refused the desktop${reason ? ` (${reason})` : ''}.` }
    default:
      if (code >= 4000 && code < 5000) {
        return { retry: false, message: `The server ended the desktop (${code}${reason ? `: ${reason}` : ''}).` }
      }
      return { retry: true, message: 'The connection to the desktop dropped.' }
  }
}

/**
 * How long to wait before the `attempt`-th new socket (0 for the first after a drop):
 * doubling from half a second up to 15 s, spread by ±20 % (`random` in [0, 1)) so that
 * the viewers of a restarted server do not all come back in the same instant.
 */
export function reconnectDelay(attempt: number, random: number = Math.random()): number {
  const base = Math.min(500 * 2 ** Math.max(0, attempt), 15_000)
  return Math.round(base * (0.8 + 0.4 * random))
}

/** New sockets tried one after another without reaching the desktop before giving up
 * (about five minutes with the waits above: long enough for a server restart). */
export const MAX_RECONNECT_ATTEMPTS = 25
