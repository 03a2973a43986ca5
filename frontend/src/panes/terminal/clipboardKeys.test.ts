import { describe, expect, it } from 'vitest'
import { clipboardAction, type KeyLike } from './clipboardKeys'

function key(key: string, modifiers: Partial<KeyLike> = {}): KeyLike {
  return { type: 'keydown', key, ctrlKey: false, shiftKey: false, altKey: false, metaKey: false, ...modifiers }
}

describe('clipboardAction', () => {
  it('copies with Ctrl+Shift+C and Ctrl+Insert, pastes with Ctrl+Shift+V and Shift+Insert', () => {
    expect(clipboardAction(key('C', { ctrlKey: true, shiftKey: true }))).toBe('copy')
    expect(clipboardAction(key('Insert', { ctrlKey: true }))).toBe('copy')
    expect(clipboardAction(key('V', { ctrlKey: true, shiftKey: true }))).toBe('paste')
    expect(clipboardAction(key('Insert', { shiftKey: true }))).toBe('paste')
  })

  it('leaves the shell its own keys', () => {
    expect(clipboardAction(key('c', { ctrlKey: true }))).toBeNull() // interrupt
    expect(clipboardAction(key('v', { ctrlKey: true }))).toBeNull()
    expect(clipboardAction(key('c', { ctrlKey: true, shiftKey: true, altKey: true }))).toBeNull()
    expect(clipboardAction(key('Insert'))).toBeNull()
    expect(clipboardAction({ ...key('C', { ctrlKey: true, shiftKey: true }), type: 'keyup' })).toBeNull()
  })
})
