/**
 * The desktop's clipboard and the browser's, both ways. Text copied on the desktop is
 * always kept for the toolbar's clipboard panel; local text goes to the desktop from the
 * panel's paste box. In the viewer's own desktop the two also follow each other by
 * themselves: desktop text is written to the local clipboard where the browser lets the
 * page, and the local clipboard goes to the desktop when the pane gets the focus if the
 * browser grants reading it without asking and it changed since the pane last read or
 * wrote it (someone copied something new outside the desktop; text pasted in the panel
 * does not change the local clipboard, so the focus that follows must not send the older
 * local text over it). In someone else's desktop (shared with the viewer) nothing crosses
 * by itself: the viewer's clipboard may hold a password, and the owner's desktop must not
 * write into it; only the panel's paste box and Copy button do.
 */

export interface ClipboardDeps {
  /** The browser's clipboard, where there is one (secure pages only). */
  clipboard: Pick<Clipboard, 'readText' | 'writeText'> | null
  /** The state of a permission ('granted', 'prompt', 'denied'), or null when unknown. */
  permission(name: 'clipboard-read'): Promise<PermissionState | null>
  /** Give the desktop `text` as its clipboard. */
  send(text: string): void
  /** Whether the clipboards follow each other by themselves: the viewer's own desktop. */
  automatic(): boolean
}

export class ClipboardBridge {
  /** The last text copied on the desktop. */
  remoteText = ''
  /** Whether it also reached the local clipboard. */
  copiedLocally = false
  /** The local clipboard's text as the pane last read or wrote it: only a change from it
   * is sent on focus (null until the pane first sees the local clipboard). */
  private localText: string | null = null
  private readonly deps: ClipboardDeps

  constructor(deps: ClipboardDeps) {
    this.deps = deps
  }

  /** The desktop's clipboard changed: keep it, and copy it locally if allowed (the
   * viewer's own desktop only). */
  async fromDesktop(text: string): Promise<boolean> {
    this.remoteText = text
    this.copiedLocally = false
    if (!this.deps.clipboard || !this.deps.automatic()) return false
    try {
      await this.deps.clipboard.writeText(text)
      // It is the desktop's already: no need to send it back on the next focus.
      this.localText = text
      this.copiedLocally = true
    } catch {
      // Not allowed without a gesture, or not focused: the panel shows it instead.
    }
    return this.copiedLocally
  }

  /** Text pasted into the panel's box (or read from the local clipboard): to the desktop. */
  toDesktop(text: string): void {
    this.deps.send(text)
  }

  /** The pane got the focus: give the desktop the local clipboard if it changed since the
   * pane last read or wrote it, the desktop is the viewer's own and the browser lets us
   * read it without asking. True when something was sent. */
  async syncOnFocus(): Promise<boolean> {
    if (!this.deps.clipboard || !this.deps.automatic()) return false
    let state: PermissionState | null
    try {
      state = await this.deps.permission('clipboard-read')
    } catch {
      state = null
    }
    if (state !== 'granted') return false
    let text: string
    try {
      text = await this.deps.clipboard.readText()
    } catch {
      return false
    }
    if (text === this.localText) return false
    this.localText = text
    if (text === '') return false
    this.toDesktop(text)
    return true
  }
}

/** The browser's clipboard and permissions, where the page has them. */
export function browserClipboardDeps(send: (text: string) => void, automatic: () => boolean): ClipboardDeps {
  const clipboard = typeof navigator !== 'undefined' && navigator.clipboard ? navigator.clipboard : null
  return {
    clipboard,
    permission: async (name) => {
      if (!navigator.permissions) return null
      const status = await navigator.permissions.query({ name: name as PermissionName })
      return status.state
    },
    send,
    automatic,
  }
}
