import { api, type ApiClient } from './client'

export interface PasswordChange {
  /**
   * Left out only right after logging in with a one-time password: the server accepts
   * that from the browser session that typed it (docs/api-contract.md), no one else.
   */
  current_password?: string
  new_password: string
}

/**
 * Change your own password. Resolves on 204; the server then ends every other session
 * of the user (this one stays). A wrong current password or a new one the server's
 * policy refuses is a 422 whose `details[0].field` names the field.
 */
export function changePassword(request: PasswordChange, client: ApiClient = api): Promise<void> {
  return client.post<void>('/users/me/password', request)
}
