import { describe, expect, it, vi } from 'vitest'
import { ApiError } from '../api/client'
import type { PreferencesAnswer, PreferenceValues } from '../api/types'
import {
  createPreferencesStore,
  mergePreferences,
  nextThemeSetting,
  resolveTheme,
  type PreferencesDeps,
} from './preferences'

/** A stand-in for window.matchMedia('(prefers-color-scheme: dark)') we can flip. */
function fakeColorScheme(dark: boolean) {
  const listeners = new Set<(event: MediaQueryListEvent) => void>()
  const query = {
    matches: dark,
    addEventListener: (_type: string, listener: (event: MediaQueryListEvent) => void) => listeners.add(listener),
    removeEventListener: (_type: string, listener: (event: MediaQueryListEvent) => void) =>
      listeners.delete(listener),
  }
  return {
    matchMedia: (() => query) as unknown as PreferencesDeps['matchMedia'],
    set(nowDark: boolean) {
      query.matches = nowDark
      for (const listener of listeners) listener({ matches: nowDark } as MediaQueryListEvent)
    },
    listenerCount: () => listeners.size,
  }
}

function memoryStorage(initial: Record<string, string> = {}) {
  const data = new Map(Object.entries(initial))
  return {
    getItem: (key: string) => data.get(key) ?? null,
    setItem: (key: string, value: string) => void data.set(key, value),
    data,
  }
}

const SCHEMA = {
  theme: { description: 'Colour theme.', default: 'system' },
  'editor.font_size': { description: 'Editor font size.', default: 14 },
  'workspace.layout': { description: 'Layout.', default: null },
  'later.key': { description: 'Registered by a later server release.', default: 'x' },
}

function makeStore(options: { dark?: boolean; answer?: PreferencesAnswer; storage?: ReturnType<typeof memoryStorage> } = {}) {
  const scheme = fakeColorScheme(options.dark ?? false)
  const fetch = vi.fn(async () => options.answer ?? { preferences: {}, schema: SCHEMA })
  const patch = vi.fn(async (changes: PreferenceValues): Promise<PreferencesAnswer> => ({ preferences: { ...changes } }))
  const storage = options.storage ?? memoryStorage()
  const store = createPreferencesStore({ fetch, patch, matchMedia: scheme.matchMedia, storage })
  return { store, fetch, patch, scheme, storage }
}

describe('mergePreferences', () => {
  it('sets changed keys and keeps the others untouched', () => {
    const current = { theme: 'dark', 'later.key': 'kept', 'editor.font_size': 12 }
    expect(mergePreferences(current, { 'editor.font_size': 16 })).toEqual({
      theme: 'dark',
      'later.key': 'kept',
      'editor.font_size': 16,
    })
  })

  it('removes a key whose new value is null (reset to default)', () => {
    expect(mergePreferences({ theme: 'dark', 'editor.font_size': 12 }, { theme: null })).toEqual({
      'editor.font_size': 12,
    })
  })

  it('does not modify its inputs', () => {
    const current = { theme: 'dark' }
    mergePreferences(current, { theme: null })
    expect(current).toEqual({ theme: 'dark' })
  })
})

describe('theme resolution', () => {
  it('resolves explicit settings as they are', () => {
    expect(resolveTheme('light', true)).toBe('light')
    expect(resolveTheme('dark', false)).toBe('dark')
  })

  it('follows the system for "system"', () => {
    expect(resolveTheme('system', true)).toBe('dark')
    expect(resolveTheme('system', false)).toBe('light')
  })

  it('cycles system -> light -> dark -> system', () => {
    expect(nextThemeSetting('system')).toBe('light')
    expect(nextThemeSetting('light')).toBe('dark')
    expect(nextThemeSetting('dark')).toBe('system')
  })

  it('follows a live change of the system colour scheme', async () => {
    const { store, scheme } = makeStore({ dark: false })
    await store.load()
    expect(store.theme.value).toBe('system')
    expect(store.resolvedTheme.value).toBe('light')
    scheme.set(true)
    expect(store.resolvedTheme.value).toBe('dark')
  })

  it('ignores the system once the user picked a theme', async () => {
    const { store, scheme } = makeStore({ dark: true, answer: { preferences: { theme: 'light' }, schema: SCHEMA } })
    await store.load()
    expect(store.resolvedTheme.value).toBe('light')
    scheme.set(false)
    expect(store.resolvedTheme.value).toBe('light')
  })

  it('treats an unknown theme value as system', async () => {
    const { store } = makeStore({ dark: true, answer: { preferences: { theme: 'sepia' }, schema: SCHEMA } })
    await store.load()
    expect(store.theme.value).toBe('system')
    expect(store.resolvedTheme.value).toBe('dark')
  })

  it('stops listening to the system on dispose', () => {
    const { store, scheme } = makeStore()
    expect(scheme.listenerCount()).toBe(1)
    store.dispose()
    expect(scheme.listenerCount()).toBe(0)
  })

  it('starts with the theme this browser last used, before preferences load', () => {
    const { store } = makeStore({ dark: false, storage: memoryStorage({ 'labgate.theme': 'dark' }) })
    expect(store.resolvedTheme.value).toBe('dark')
  })
})

describe('preferences store', () => {
  it('reads values, then schema defaults, then built-in defaults', async () => {
    const { store } = makeStore({ answer: { preferences: { 'editor.font_size': 18 }, schema: SCHEMA } })
    expect(store.get('editor.font_size')).toBe(14) // built-in, before load
    await store.load()
    expect(store.get('editor.font_size')).toBe(18)
    expect(store.editorFontSize.value).toBe(18)
    expect(store.get('later.key')).toBe('x')
    expect(store.get('workspace.layout')).toBeNull()
    expect(store.loaded.value).toBe(true)
  })

  it('keeps the terminal font size apart from the editor one', async () => {
    const { store } = makeStore({ answer: { preferences: { 'terminal.font_size': 11 }, schema: SCHEMA } })
    expect(store.terminalFontSize.value).toBe(14) // built-in, before load
    await store.load()
    expect(store.terminalFontSize.value).toBe(11)
    expect(store.editorFontSize.value).toBe(14)
  })

  it('save sends only the changed keys and merges the answer', async () => {
    const { store, patch } = makeStore({
      answer: { preferences: { theme: 'dark', 'later.key': 'server-owned' }, schema: SCHEMA },
    })
    await store.load()
    await store.save({ 'editor.font_size': 20 })
    expect(patch).toHaveBeenCalledWith({ 'editor.font_size': 20 })
    expect(store.values.value).toEqual({ theme: 'dark', 'later.key': 'server-owned', 'editor.font_size': 20 })
  })

  it('save with null resets a key to its default', async () => {
    const { store, patch } = makeStore({ answer: { preferences: { 'editor.font_size': 22 }, schema: SCHEMA } })
    patch.mockResolvedValueOnce({ preferences: {} })
    await store.load()
    await store.save({ 'editor.font_size': null })
    expect(store.values.value).not.toHaveProperty('editor.font_size')
    expect(store.editorFontSize.value).toBe(14)
  })

  it('takes the server-normalised value of a saved key but ignores other keys in the answer', async () => {
    const { store, patch } = makeStore({ answer: { preferences: { theme: 'dark' }, schema: SCHEMA } })
    await store.load()
    patch.mockResolvedValueOnce({ preferences: { 'editor.font_size': 16, theme: 'light' } })
    await store.save({ 'editor.font_size': 16.0 })
    // theme in the answer may be stale relative to a concurrent change: not adopted.
    expect(store.values.value).toEqual({ theme: 'dark', 'editor.font_size': 16 })
  })

  it('save leaves values unchanged when the server refuses', async () => {
    const { store, patch } = makeStore({ answer: { preferences: { 'editor.font_size': 12 }, schema: SCHEMA } })
    await store.load()
    patch.mockRejectedValueOnce(new ApiError(422, 'validation_error', 'Too big.'))
    await expect(store.save({ 'editor.font_size': 99 })).rejects.toBeInstanceOf(ApiError)
    expect(store.editorFontSize.value).toBe(12)
  })

  it('update shows the change at once and undoes it if the server refuses', async () => {
    const { store, patch } = makeStore({ answer: { preferences: { theme: 'light' }, schema: SCHEMA } })
    await store.load()
    let reject: (error: unknown) => void = () => {}
    patch.mockReturnValueOnce(new Promise((_resolve, r) => (reject = r)))
    const pending = store.update({ theme: 'dark' })
    expect(store.resolvedTheme.value).toBe('dark')
    reject(new ApiError(500, 'internal_error', 'Boom.'))
    await expect(pending).rejects.toBeInstanceOf(ApiError)
    expect(store.theme.value).toBe('light')
  })

  it('update undoes a change of a key that was unset by removing it again', async () => {
    const { store, patch } = makeStore()
    await store.load()
    patch.mockRejectedValueOnce(new ApiError(500, 'internal_error', 'Boom.'))
    await expect(store.update({ 'editor.font_size': 30 })).rejects.toBeInstanceOf(ApiError)
    expect(store.values.value).not.toHaveProperty('editor.font_size')
  })

  it('remembers the theme setting for the next page load', async () => {
    const { store, storage } = makeStore()
    await store.load()
    await store.update({ theme: 'dark' })
    expect(storage.data.get('labgate.theme')).toBe('dark')
  })

  it('reset forgets values but keeps the theme on screen', async () => {
    const { store } = makeStore({ answer: { preferences: { theme: 'dark', 'editor.font_size': 20 }, schema: SCHEMA } })
    await store.load()
    store.reset()
    expect(store.values.value).toEqual({ theme: 'dark' })
    expect(store.loaded.value).toBe(false)
  })
})
