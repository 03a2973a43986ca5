/**
 * The xterm.js side of a terminal pane: the screen with its addons (fit, clickable links,
 * Unicode 11 widths), copy and paste keys, and fitting to the pane as it is resized
 * (debounced). What the keys type and what size the screen has go to the callbacks; the
 * {@link TerminalSession} decides what to do with them.
 */
import { FitAddon } from '@xterm/addon-fit'
import { Unicode11Addon } from '@xterm/addon-unicode11'
import { WebLinksAddon } from '@xterm/addon-web-links'
import { Terminal, type ITheme } from '@xterm/xterm'
import { copyText } from '../../ui/format'
import { clipboardAction } from './clipboardKeys'
import type { TerminalSize } from './terminalSession'

export interface TerminalViewOptions {
  fontSize: number
  fontFamily: string
  theme: ITheme
  /** Keys, pastes and mouse reports, for the shell. */
  onInput: (data: string | Uint8Array) => void
  /** The screen's size in cells changed. */
  onResize: (size: TerminalSize) => void
}

/** Wait after the last size change before fitting: a drag of a splitter fires many. */
const FIT_DELAY_MS = 60
const SCROLLBACK_LINES = 10_000

/** The element the screen lives in carries its Terminal as `xterm` (end-to-end tests read its buffer). */
export type TerminalHost = HTMLElement & { xterm?: Terminal }

export class TerminalView {
  readonly terminal: Terminal
  private readonly host: TerminalHost
  private readonly fitAddon = new FitAddon()
  private readonly observer: ResizeObserver
  private fitTimer: ReturnType<typeof setTimeout> | null = null

  constructor(host: HTMLElement, options: TerminalViewOptions) {
    this.host = host
    this.terminal = new Terminal({
      fontSize: options.fontSize,
      fontFamily: options.fontFamily,
      theme: options.theme,
      scrollback: SCROLLBACK_LINES,
      cursorBlink: true,
      allowProposedApi: true, // the Unicode 11 addon
      macOptionIsMeta: true,
    })
    const terminal = this.terminal
    terminal.loadAddon(this.fitAddon)
    terminal.loadAddon(new WebLinksAddon((_event, uri) => window.open(uri, '_blank', 'noopener')))
    terminal.loadAddon(new Unicode11Addon())
    terminal.unicode.activeVersion = '11'
    terminal.attachCustomKeyEventHandler((event) => this.clipboardKey(event))
    terminal.onData((data) => options.onInput(data))
    // Mouse reports in the X10 encoding are bytes, not text.
    terminal.onBinary((data) => options.onInput(Uint8Array.from(data, (c) => c.charCodeAt(0) & 0xff)))
    terminal.onResize(({ cols, rows }) => options.onResize({ cols, rows }))
    terminal.open(host)
    Object.defineProperty(host, 'xterm', { value: terminal, configurable: true })
    this.observer = new ResizeObserver(() => this.scheduleFit())
    this.observer.observe(host)
    this.fit()
  }

  /** The size the pane has room for (null while it is hidden). */
  size(): TerminalSize | null {
    if (this.host.clientWidth === 0 || this.host.clientHeight === 0) return null
    const proposed = this.fitAddon.proposeDimensions()
    if (!proposed || !Number.isFinite(proposed.cols) || !Number.isFinite(proposed.rows)) return null
    return { cols: Math.max(2, proposed.cols), rows: Math.max(1, proposed.rows) }
  }

  write(data: Uint8Array | string): void {
    this.terminal.write(data)
  }

  /** A line of labgate's own (dim), e.g. how the shell ended. */
  writeNote(text: string): void {
    this.terminal.write(`\r\n\x1b[2m${text}\x1b[0m\r\n`)
  }

  reset(): void {
    this.terminal.reset()
  }

  setFontSize(size: number): void {
    this.terminal.options.fontSize = size
    this.fit()
  }

  setTheme(theme: ITheme): void {
    this.terminal.options.theme = theme
  }

  focus(): void {
    this.terminal.focus()
  }

  dispose(): void {
    if (this.fitTimer !== null) clearTimeout(this.fitTimer)
    this.observer.disconnect()
    this.terminal.dispose()
  }

  private scheduleFit(): void {
    if (this.fitTimer !== null) clearTimeout(this.fitTimer)
    this.fitTimer = setTimeout(() => {
      this.fitTimer = null
      this.fit()
    }, FIT_DELAY_MS)
  }

  private fit(): void {
    const size = this.size()
    if (size && (size.cols !== this.terminal.cols || size.rows !== this.terminal.rows)) {
      this.terminal.resize(size.cols, size.rows)
    }
  }

  /** False for keys xterm.js must leave alone (the browser's copy and paste follow). */
  private clipboardKey(event: KeyboardEvent): boolean {
    const action = clipboardAction(event)
    if (action === null) return true
    if (action === 'copy') {
      event.preventDefault()
      const selection = this.terminal.getSelection()
      if (selection) void copySelection(selection)
    }
    // Paste: not prevented, so the browser pastes into xterm's textarea, which sends
    // it to the shell (bracketed when the shell asked for it). No clipboard permission
    // is needed that way.
    return false
  }
}

async function copySelection(text: string): Promise<void> {
  // Without the clipboard API (plain http), the browser's own copy still works: xterm.js
  // answers the copy event of its focused textarea with the selection.
  if (!(await copyText(text))) document.execCommand('copy')
}
