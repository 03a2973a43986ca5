/**
 * The user's preferences, as a small reactive store that any pane can read.
 *
 * The server owns the values (GET/PATCH /api/v1/preferences). This store only ever
 * sends the keys that change, so keys it does not know (registered later on the
 * server) are never overwritten.
 */
import { computed, ref, shallowRef, type ComputedRef, type Ref } from 'vue'
import { fetchPreferences, patchPreferences } from '../api/preferences'
import type { PreferenceSchemaEntry, PreferencesAnswer, PreferenceValues } from '../api/types'

export type ThemeSetting = 'system' | 'light' | 'dark'
export type ResolvedTheme = 'light' | 'dark'

export const THEME_SETTINGS: readonly ThemeSetting[] = ['system', 'light', 'dark']
export const FONT_SIZE_MIN = 8
export const FONT_SIZE_MAX = 40

/** Defaults used until the server's schema is known (they match the server's). */
export const BUILTIN_DEFAULTS: Readonly<PreferenceValues> = {
  theme: 'system',
  'editor.font_size': 14,
  'editor.indent_size': 4,
  'editor.indent_with_tabs': false,
  'editor.line_wrapping': false,
  'editor.run_commands': {},
  'editor.output_height': 220,
  'editor.output_collapsed': false,
  'terminal.font_size': 14,
  'files.show_hidden': false,
  'desktop.scaling': 'remote',
  'desktop.quality': 6,
  'desktop.compression': 2,
  'desktop.dot_cursor': false,
  'workspace.layout': null,
}

/** The editor's settings from the preferences (see panes/editor/codemirrorSetup.ts). */
export interface EditorPreferences {
  fontSize: number
  indentSize: number
  tabs: boolean
  wrap: boolean
}

const THEME_CACHE_KEY = 'labgate.theme'
const DARK_QUERY = '(prefers-color-scheme: dark)'

export function isThemeSetting(value: unknown): value is ThemeSetting {
  return typeof value === 'string' && (THEME_SETTINGS as readonly string[]).includes(value)
}

export function resolveTheme(setting: ThemeSetting, systemPrefersDark: boolean): ResolvedTheme {
  if (setting === 'system') return systemPrefersDark ? 'dark' : 'light'
  return setting
}

/** The next setting for the top bar's toggle: system -> light -> dark -> system. */
export function nextThemeSetting(setting: ThemeSetting): ThemeSetting {
  const index = THEME_SETTINGS.indexOf(setting)
  return THEME_SETTINGS[(index + 1) % THEME_SETTINGS.length] ?? 'system'
}

/** Apply a PATCH-style change set: a `null` value removes the key (back to its default). */
export function mergePreferences(current: PreferenceValues, changes: PreferenceValues): PreferenceValues {
  const merged: PreferenceValues = { ...current }
  for (const [key, value] of Object.entries(changes)) {
    if (value === null) delete merged[key]
    else merged[key] = value
  }
  return merged
}

export interface PreferencesDeps {
  fetch: () => Promise<PreferencesAnswer>
  patch: (changes: PreferenceValues) => Promise<PreferencesAnswer>
  matchMedia: ((query: string) => MediaQueryList) | null
  storage: Pick<Storage, 'getItem' | 'setItem'> | null
}

export interface PreferencesStore {
  readonly values: Readonly<Ref<PreferenceValues>>
  readonly schema: Readonly<Ref<Record<string, PreferenceSchemaEntry>>>
  readonly loaded: Readonly<Ref<boolean>>
  readonly systemPrefersDark: Readonly<Ref<boolean>>
  readonly theme: ComputedRef<ThemeSetting>
  readonly resolvedTheme: ComputedRef<ResolvedTheme>
  readonly editorFontSize: ComputedRef<number>
  /** Font size, indentation and wrapping of editors. */
  readonly editorSettings: ComputedRef<EditorPreferences>
  readonly terminalFontSize: ComputedRef<number>
  /** The value, else the server's default, else the built-in default. */
  get<T = unknown>(key: string): T
  load(): Promise<void>
  /** PATCH the changes; local values follow once the server has accepted them. */
  save(changes: PreferenceValues): Promise<void>
  /** Show the changes at once, then PATCH; undone if the server refuses. */
  update(changes: PreferenceValues): Promise<void>
  /** Forget the user's values (after logout), except the theme on screen. */
  reset(): void
  dispose(): void
}

function browserDeps(): PreferencesDeps {
  const hasWindow = typeof window !== 'undefined'
  return {
    fetch: () => fetchPreferences(),
    patch: (changes) => patchPreferences(changes),
    matchMedia: hasWindow && typeof window.matchMedia === 'function' ? window.matchMedia.bind(window) : null,
    storage: hasWindow ? safeStorage() : null,
  }
}

function safeStorage(): Storage | null {
  try {
    return window.localStorage
  } catch {
    return null // storage disabled by the browser's privacy settings
  }
}

export function createPreferencesStore(overrides: Partial<PreferencesDeps> = {}): PreferencesStore {
  const deps: PreferencesDeps = { ...browserDeps(), ...overrides }
  const values = shallowRef<PreferenceValues>({})
  const schema = shallowRef<Record<string, PreferenceSchemaEntry>>({})
  const loaded = ref(false)

  // Until preferences load (e.g. on the login page) use the theme this browser saw last.
  const cachedTheme = readCachedTheme(deps.storage)
  if (cachedTheme) values.value = { theme: cachedTheme }

  const systemPrefersDark = ref(false)
  let stopWatchingSystem = (): void => {}
  if (deps.matchMedia) {
    const query = deps.matchMedia(DARK_QUERY)
    systemPrefersDark.value = query.matches
    const onChange = (event: MediaQueryListEvent): void => {
      systemPrefersDark.value = event.matches
    }
    query.addEventListener('change', onChange)
    stopWatchingSystem = () => query.removeEventListener('change', onChange)
  }

  function get<T = unknown>(key: string): T {
    if (key in values.value) return values.value[key] as T
    if (key in schema.value) return schema.value[key]?.default as T
    return BUILTIN_DEFAULTS[key] as T
  }

  const theme = computed<ThemeSetting>(() => {
    const value = get('theme')
    return isThemeSetting(value) ? value : 'system'
  })
  const resolvedTheme = computed(() => resolveTheme(theme.value, systemPrefersDark.value))
  const fontSize = (key: string): ComputedRef<number> =>
    computed(() => {
      const value = get(key)
      return typeof value === 'number' && Number.isFinite(value) ? value : 14
    })
  const editorFontSize = fontSize('editor.font_size')
  const terminalFontSize = fontSize('terminal.font_size')

  const editorSettings = computed<EditorPreferences>(() => {
    const indent = get('editor.indent_size')
    return {
      fontSize: editorFontSize.value,
      indentSize: typeof indent === 'number' && indent >= 1 && indent <= 8 ? indent : 4,
      tabs: get('editor.indent_with_tabs') === true,
      wrap: get('editor.line_wrapping') === true,
    }
  })

  function setValues(next: PreferenceValues): void {
    values.value = next
    const setting = next.theme
    try {
      deps.storage?.setItem(THEME_CACHE_KEY, isThemeSetting(setting) ? setting : 'system')
    } catch {
      // Quota or privacy mode: the cache is only a nicety.
    }
  }

  async function load(): Promise<void> {
    const answer = await deps.fetch()
    schema.value = answer.schema ?? {}
    setValues({ ...answer.preferences })
    loaded.value = true
  }

  /** Take what the server answered for the keys we sent (it may normalise them). */
  function acceptAnswer(changes: PreferenceValues, answer: PreferencesAnswer): void {
    const accepted: PreferenceValues = {}
    for (const key of Object.keys(changes)) {
      accepted[key] = key in answer.preferences ? answer.preferences[key] : changes[key]
    }
    setValues(mergePreferences(values.value, accepted))
  }

  async function save(changes: PreferenceValues): Promise<void> {
    const answer = await deps.patch(changes)
    acceptAnswer(changes, answer)
  }

  async function update(changes: PreferenceValues): Promise<void> {
    const before: PreferenceValues = {}
    for (const key of Object.keys(changes)) before[key] = key in values.value ? values.value[key] : null
    setValues(mergePreferences(values.value, changes))
    try {
      const answer = await deps.patch(changes)
      acceptAnswer(changes, answer)
    } catch (error) {
      setValues(mergePreferences(values.value, before))
      throw error
    }
  }

  function reset(): void {
    // Keep the theme so the login page does not flash to another one.
    values.value = isThemeSetting(values.value.theme) ? { theme: values.value.theme } : {}
    schema.value = {}
    loaded.value = false
  }

  return {
    values,
    schema,
    loaded,
    systemPrefersDark,
    theme,
    resolvedTheme,
    editorFontSize,
    editorSettings,
    terminalFontSize,
    get,
    load,
    save,
    update,
    reset,
    dispose: () => stopWatchingSystem(),
  }
}

function readCachedTheme(storage: PreferencesDeps['storage']): ThemeSetting | null {
  try {
    const value = storage?.getItem(THEME_CACHE_KEY)
    return isThemeSetting(value) ? value : null
  } catch {
    return null
  }
}

/** The app's store. */
export const preferences = createPreferencesStore()
