import { api, type ApiClient, type RequestOptions } from './client'
import type { PreferencesAnswer, PreferenceValues } from './types'

export function fetchPreferences(client: ApiClient = api): Promise<PreferencesAnswer> {
  return client.get<PreferencesAnswer>('/preferences')
}

/** Send only the keys that change; `null` resets a key to its default. */
export function patchPreferences(
  changes: PreferenceValues,
  options: Pick<RequestOptions, 'keepalive'> = {},
  client: ApiClient = api,
): Promise<PreferencesAnswer> {
  return client.patch<PreferencesAnswer>('/preferences', { preferences: changes }, options)
}
