import { describe, expect, it } from 'vitest'
import { applySettings, DEFAULT_SETTINGS, isViewOnly, preferenceChanges, settingsFrom, type ViewSettable } from './desktopSettings'

function client(): ViewSettable {
  return { scaleViewport: false, resizeSession: false, clipViewport: true, qualityLevel: 0, compressionLevel: 0, showDotCursor: false }
}

describe('desktop settings', () => {
  it('reads the preferences, with the defaults for anything missing or unusable', () => {
    const stored: Record<string, unknown> = { 'desktop.scaling': 'fit', 'desktop.quality': 9, 'desktop.dot_cursor': true }
    expect(settingsFrom((key) => stored[key])).toEqual({ scaling: 'fit', quality: 9, compression: 2, dotCursor: true })
    const bad: Record<string, unknown> = { 'desktop.scaling': 'stretch', 'desktop.quality': 12, 'desktop.compression': 1.5, 'desktop.dot_cursor': 'yes' }
    expect(settingsFrom((key) => bad[key])).toEqual(DEFAULT_SETTINGS)
  })

  it('saves a change under its preference key only', () => {
    expect(preferenceChanges({ quality: 3 })).toEqual({ 'desktop.quality': 3 })
    expect(preferenceChanges({ scaling: 'actual', dotCursor: true })).toEqual({ 'desktop.scaling': 'actual', 'desktop.dot_cursor': true })
  })

  it('maps each scaling onto the client', () => {
    const remote = client()
    applySettings(remote, { ...DEFAULT_SETTINGS, scaling: 'remote' })
    expect(remote).toMatchObject({ resizeSession: true, scaleViewport: true, clipViewport: false })
    const fit = client()
    applySettings(fit, { ...DEFAULT_SETTINGS, scaling: 'fit' })
    expect(fit).toMatchObject({ resizeSession: false, scaleViewport: true })
    const actual = client()
    applySettings(actual, { scaling: 'actual', quality: 2, compression: 7, dotCursor: true })
    expect(actual).toEqual({
      resizeSession: false,
      scaleViewport: false,
      clipViewport: false,
      qualityLevel: 2,
      compressionLevel: 7,
      showDotCursor: true,
    })
  })

  it('is view only when asked, or for a guest of a shared session', () => {
    expect(isViewOnly({})).toBe(false)
    expect(isViewOnly({ viewOnly: true })).toBe(true)
    expect(isViewOnly({}, 'GUEST')).toBe(true)
    expect(isViewOnly({}, 'guest')).toBe(true)
    expect(isViewOnly({}, 'user')).toBe(false)
    expect(isViewOnly({ viewOnly: 'yes' }, null)).toBe(false)
  })
})
