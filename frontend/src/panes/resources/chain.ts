/**
 * The jump chain of a resource as the pictures draw it, and what to tell the user about
 * a failure. Pure functions.
 *
 * Chain indices: 0 .. hops.length-1 are the jump hosts in the order they are reached,
 * hops.length is the resource itself. An error's or prompt's `hop` is such an index;
 * a `hop` of null on a server-level failure means the resource itself.
 */
import type { Resource, ResourceError } from '../../api/resources'

export interface ChainNode {
  index: number
  host: string
  /** `user@host:port` */
  address: string
  isTarget: boolean
}

type ChainSource = Pick<Resource, 'kind' | 'host' | 'port' | 'hops' | 'remote_username' | 'username'>

/** The remote account on the resource itself. */
export function accountOf(resource: Pick<Resource, 'remote_username' | 'username'>): string {
  return resource.remote_username || resource.username
}

export function formatAddress(user: string, host: string, port: number): string {
  return `${user ? `${user}@` : ''}${host}:${port}`
}

/** `user@host:port` of the resource itself; for `local`, the account on this server. */
export function addressOf(resource: ChainSource): string {
  if (resource.kind === 'local') {
    const account = accountOf(resource)
    return account ? `${account} on the labgate server` : 'the labgate server itself'
  }
  return formatAddress(accountOf(resource), resource.host, resource.port)
}

export function chainOf(resource: ChainSource): ChainNode[] {
  if (resource.kind === 'local') return []
  const account = accountOf(resource)
  const nodes: ChainNode[] = resource.hops.map((hop, index) => ({
    index,
    host: hop.host,
    address: formatAddress(hop.username || account, hop.host, hop.port),
    isTarget: false,
  }))
  nodes.push({
    index: resource.hops.length,
    host: resource.host,
    address: formatAddress(account, resource.host, resource.port),
    isTarget: true,
  })
  return nodes
}

/** Failures that belong to one server of the chain. */
const SERVER_CODES = new Set([
  'host_key_unknown',
  'host_key_changed',
  'auth_failed',
  'name_not_found',
  'connection_refused',
  'timed_out',
  'unreachable',
  'python_missing',
  'python_too_old',
  'agent_failed',
  'agent_unavailable',
  'ssh_failed',
])

/** Which node of {@link chainOf} failed, or null when the failure is not one server's. */
export function failingIndex(resource: Pick<Resource, 'kind' | 'hops'>, error: ResourceError | null): number | null {
  if (!error || resource.kind === 'local') return null
  const target = resource.hops.length
  if (typeof error.hop === 'number') return Math.max(0, Math.min(error.hop, target))
  return SERVER_CODES.has(error.code) ? target : null
}

export interface FailureHint {
  /** A short title: "The host key has changed". */
  title: string
  /** What to do, in plain words. */
  text: string
  /** Not something to retry: do not connect (a changed host key). */
  hardStop: boolean
  /** The fix is in the resource's settings: offer Edit. */
  suggestEdit: boolean
}

/** What to tell the user about a failure, per error code. */
export function hintFor(error: ResourceError, resource?: Pick<Resource, 'python' | 'can_edit'>): FailureHint {
  const where = error.hop_label ? ` (${error.hop_label})` : ''
  const python = resource?.python || 'python3'
  switch (error.code) {
    case 'host_key_changed':
      return {
        title: 'The host key has changed: do not connect',
        text:
          `The server${where} presented a different host key from the one confirmed before. ` +
          'This happens when a server is reinstalled, but it is also exactly what an attacker ' +
          'intercepting the connection looks like. Do not connect, and do not forget the old key ' +
          'yourself: ask the administrator of the host whether its keys were replaced. Only after ' +
          'they confirm it, remove the old key under Edit → Confirmed host keys and connect again ' +
          'to check the new fingerprint.',
        hardStop: true,
        suggestEdit: false,
      }
    case 'host_key_unknown':
      return {
        title: 'The host key was not confirmed',
        text: `labgate does not connect to a server${where} whose host key nobody confirmed. Connect again and compare the fingerprint.`,
        hardStop: false,
        suggestEdit: false,
      }
    case 'auth_failed':
      return {
        title: 'The login was refused',
        text:
          `The server${where} did not accept the login. Check the user name and the login method ` +
          '(Edit); for a key, check that its public key is in ~/.ssh/authorized_keys of that account ' +
          '(for your labgate key: see “My SSH key” below).',
        hardStop: false,
        suggestEdit: true,
      }
    case 'name_not_found':
      return {
        title: 'Unknown host name',
        text:
          `The host name${where} could not be found. Check its spelling (Edit). A host that is ` +
          'only known inside its institute’s network needs a jump host in front of it.',
        hardStop: false,
        suggestEdit: true,
      }
    case 'connection_refused':
      return {
        title: 'Connection refused',
        text:
          `The host${where} answered, but nothing accepts SSH connections on that port. Check the ` +
          'port (Edit); the SSH server may also be down.',
        hardStop: false,
        suggestEdit: true,
      }
    case 'timed_out':
      return {
        title: 'No answer in time',
        text:
          `The host${where} did not answer in time. It may be switched off, or a firewall drops ` +
          'connections from the labgate server: a jump host may be needed.',
        hardStop: false,
        suggestEdit: true,
      }
    case 'unreachable':
      return {
        title: 'Host unreachable',
        text:
          `There is no network route to the host${where}. If it can only be reached from inside ` +
          'its network, add the gateway as a jump host (Edit).',
        hardStop: false,
        suggestEdit: true,
      }
    case 'python_missing':
      return {
        title: 'No Python found',
        text:
          `The login worked, but “${python}” was not found on the host. Set the python path under ` +
          'Edit (e.g. /usr/bin/python3), or add a set-up line that provides one, such as “module load python”.',
        hardStop: false,
        suggestEdit: true,
      }
    case 'python_too_old':
      return {
        title: 'Python is too old',
        text:
          `labgate needs Python 3.8 or newer, and “${python}” is older. Set the python path under ` +
          'Edit to a newer one, or load one with a set-up line.',
        hardStop: false,
        suggestEdit: true,
      }
    case 'ssh_failed':
      return {
        title: 'The SSH connection broke off',
        text: `The server${where} ended the connection, or answered with something other than SSH. Check the host and port (Edit) and try again.`,
        hardStop: false,
        suggestEdit: true,
      }
    case 'key_rejected':
      return {
        title: 'The key could not be used',
        text: 'That is not a private key labgate can read, or the passphrase is wrong. Choose the private key file (not the .pub one) and try again.',
        hardStop: false,
        suggestEdit: false,
      }
    case 'cancelled':
      return {
        title: 'The attempt ended',
        text: 'Nothing was changed. Connect again when you are ready.',
        hardStop: false,
        suggestEdit: false,
      }
    case 'not_found':
      return {
        title: 'The resource is gone',
        text: 'It was deleted, or it is no longer shared with you. Reload the list.',
        hardStop: true,
        suggestEdit: false,
      }
    case 'forbidden':
      return {
        title: 'Not allowed',
        text: 'Your account may not use this resource. Ask your administrator.',
        hardStop: true,
        suggestEdit: false,
      }
    case 'agent_failed':
    case 'agent_unavailable':
      return {
        title: 'labgate could not start on the host',
        text: 'The login worked, but labgate’s helper did not start there. Try again; if it keeps failing, ask your administrator and quote the message above.',
        hardStop: false,
        suggestEdit: false,
      }
    // local, the server's own machine, runs each user as an OS account of their own.
    // Only an administrator can change which (the message says what); retrying helps
    // once they have.
    case 'local_account_missing':
      return {
        title: 'Your account on this machine is missing',
        text: 'labgate runs your work here as an OS account of your own, and that account does not exist yet. Ask an administrator to do what the message above says, then choose Try again.',
        hardStop: false,
        suggestEdit: false,
      }
    case 'local_account_refused':
      return {
        title: 'labgate refuses that account',
        text: 'The account rule never gives root, a system account or one with powers over the machine (sudo, docker, ...): an administrator must map you to an account by name. Ask one to add you as an exception of local, then choose Try again.',
        hardStop: false,
        suggestEdit: false,
      }
    case 'login_required':
      return {
        title: 'Login needed',
        text: 'The connection needs a password or key typed in again. Connect to enter it.',
        hardStop: false,
        suggestEdit: false,
      }
    default:
      return { title: 'The connection failed', text: 'Try again in a moment.', hardStop: false, suggestEdit: false }
  }
}
