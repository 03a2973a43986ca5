import { describe, expect, it } from 'vitest'
import { keyAction } from './keys'

describe('keyAction', () => {
  it('maps the shortcuts', () => {
    expect(keyAction({ key: 'Enter' })).toEqual({ kind: 'open' })
    expect(keyAction({ key: 'Backspace' })).toEqual({ kind: 'parent' })
    expect(keyAction({ key: 'ArrowUp', altKey: true })).toEqual({ kind: 'parent' })
    expect(keyAction({ key: 'F2' })).toEqual({ kind: 'rename' })
    expect(keyAction({ key: 'Delete' })).toEqual({ kind: 'delete' })
    expect(keyAction({ key: 'c', ctrlKey: true })).toEqual({ kind: 'copy' })
    expect(keyAction({ key: 'X', ctrlKey: true })).toEqual({ kind: 'cut' })
    expect(keyAction({ key: 'v', metaKey: true })).toEqual({ kind: 'paste' })
    expect(keyAction({ key: 'a', ctrlKey: true })).toEqual({ kind: 'selectAll' })
    expect(keyAction({ key: 'F10', shiftKey: true })).toEqual({ kind: 'menu' })
    expect(keyAction({ key: 'ContextMenu' })).toEqual({ kind: 'menu' })
  })
  it('moves the cursor, extending with Shift', () => {
    expect(keyAction({ key: 'PageDown', shiftKey: true })).toEqual({ kind: 'move', move: 'pageDown', extend: true })
    expect(keyAction({ key: 'Home' })).toEqual({ kind: 'move', move: 'home', extend: false })
  })
  it('types ahead with printable keys only', () => {
    expect(keyAction({ key: 'd' })).toEqual({ kind: 'typeAhead', text: 'd' })
    expect(keyAction({ key: ' ' })).toBeNull()
    expect(keyAction({ key: 'Shift' })).toBeNull()
    expect(keyAction({ key: 'q', ctrlKey: true })).toBeNull()
  })
})
