/**
 * The CodeMirror 6 set-up of labgate's editor: the usual editing aids (line numbers,
 * history, folding, bracket matching, search and replace, go to line, multiple
 * selections, autocompletion of words), labgate's colours from the `--lg-*` tokens (so
 * light and dark follow the app's theme without a reconfiguration), and compartments for
 * what preferences and the file change at run time: language, font size, indentation,
 * line wrapping, read-only.
 */
import { autocompletion, closeBrackets, closeBracketsKeymap, completionKeymap } from '@codemirror/autocomplete'
import { defaultKeymap, history, historyKeymap, indentWithTab } from '@codemirror/commands'
import {
  bracketMatching,
  foldGutter,
  foldKeymap,
  HighlightStyle,
  indentOnInput,
  indentUnit,
  syntaxHighlighting,
} from '@codemirror/language'
import { highlightSelectionMatches, searchKeymap } from '@codemirror/search'
import { Compartment, EditorState, type Extension } from '@codemirror/state'
import {
  crosshairCursor,
  drawSelection,
  dropCursor,
  EditorView,
  highlightActiveLine,
  highlightActiveLineGutter,
  highlightSpecialChars,
  keymap,
  lineNumbers,
  rectangularSelection,
  type KeyBinding,
  type ViewUpdate,
} from '@codemirror/view'
import { tags } from '@lezer/highlight'

export interface EditorSettings {
  fontSize: number
  /** Spaces per indentation level; ignored with `tabs`. */
  indentSize: number
  tabs: boolean
  wrap: boolean
}

export const DEFAULT_EDITOR_SETTINGS: EditorSettings = { fontSize: 14, indentSize: 4, tabs: false, wrap: false }

const highlight = HighlightStyle.define([
  { tag: [tags.keyword, tags.controlKeyword, tags.moduleKeyword, tags.operatorKeyword], color: 'var(--lg-code-keyword)' },
  { tag: [tags.string, tags.special(tags.string), tags.regexp], color: 'var(--lg-code-string)' },
  { tag: [tags.number, tags.bool, tags.null, tags.atom], color: 'var(--lg-code-number)' },
  { tag: [tags.comment, tags.lineComment, tags.blockComment, tags.docComment], color: 'var(--lg-code-comment)', fontStyle: 'italic' },
  { tag: [tags.function(tags.variableName), tags.function(tags.propertyName), tags.macroName], color: 'var(--lg-code-function)' },
  { tag: [tags.typeName, tags.className, tags.namespace, tags.standard(tags.variableName)], color: 'var(--lg-code-type)' },
  { tag: [tags.propertyName, tags.attributeName], color: 'var(--lg-code-property)' },
  { tag: [tags.operator, tags.punctuation], color: 'var(--lg-code-operator)' },
  { tag: [tags.meta, tags.processingInstruction, tags.annotation], color: 'var(--lg-code-meta)' },
  { tag: [tags.heading], color: 'var(--lg-code-function)', fontWeight: 'bold' },
  { tag: [tags.emphasis], fontStyle: 'italic' },
  { tag: [tags.strong], fontWeight: 'bold' },
  { tag: [tags.link, tags.url], color: 'var(--lg-code-function)', textDecoration: 'underline' },
  { tag: tags.invalid, color: 'var(--lg-code-invalid)' },
])

const chrome = EditorView.theme({
  '&': { height: '100%', color: 'var(--lg-text)', backgroundColor: 'var(--lg-surface)' },
  '.cm-scroller': { fontFamily: 'var(--lg-font-mono)', lineHeight: '1.5' },
  '.cm-content': { caretColor: 'var(--lg-text)' },
  '.cm-cursor, .cm-dropCursor': { borderLeftColor: 'var(--lg-text)' },
  '&.cm-focused .cm-selectionBackground, .cm-selectionBackground, ::selection': {
    backgroundColor: 'var(--lg-code-selection) !important',
  },
  '.cm-activeLine': { backgroundColor: 'var(--lg-code-active-line)' },
  '.cm-gutters': {
    backgroundColor: 'var(--lg-surface-subtle)',
    color: 'var(--lg-text-faint)',
    borderRight: '1px solid var(--lg-border)',
  },
  '.cm-activeLineGutter': { backgroundColor: 'var(--lg-surface-hover)', color: 'var(--lg-text-muted)' },
  '.cm-searchMatch': { backgroundColor: 'var(--lg-code-match)', outline: '1px solid var(--lg-warning)' },
  '.cm-searchMatch.cm-searchMatch-selected': { backgroundColor: 'var(--lg-accent-soft)' },
  '.cm-selectionMatch': { backgroundColor: 'var(--lg-surface-hover)' },
  '&.cm-focused .cm-matchingBracket': { backgroundColor: 'var(--lg-accent-soft)', outline: '1px solid var(--lg-accent)' },
  '&.cm-focused .cm-nonmatchingBracket': { backgroundColor: 'var(--lg-danger-soft)' },
  '.cm-panels': { backgroundColor: 'var(--lg-surface-subtle)', color: 'var(--lg-text)' },
  '.cm-panels.cm-panels-top': { borderBottom: '1px solid var(--lg-border)' },
  '.cm-panels.cm-panels-bottom': { borderTop: '1px solid var(--lg-border)' },
  '.cm-panel input, .cm-panel button, .cm-panel label': { fontSize: 'var(--lg-text-sm)' },
  '.cm-textfield': {
    backgroundColor: 'var(--lg-surface)',
    color: 'var(--lg-text)',
    border: '1px solid var(--lg-border-strong)',
    borderRadius: 'var(--lg-radius-sm)',
  },
  '.cm-button': {
    backgroundImage: 'none',
    backgroundColor: 'var(--lg-surface)',
    color: 'var(--lg-text)',
    border: '1px solid var(--lg-border-strong)',
    borderRadius: 'var(--lg-radius-sm)',
  },
  '.cm-tooltip': {
    backgroundColor: 'var(--lg-surface-raised)',
    color: 'var(--lg-text)',
    border: '1px solid var(--lg-border)',
    boxShadow: 'var(--lg-shadow-popover)',
  },
  '.cm-tooltip-autocomplete > ul > li[aria-selected]': { backgroundColor: 'var(--lg-accent-soft)', color: 'var(--lg-text)' },
  '.cm-foldPlaceholder': { backgroundColor: 'var(--lg-surface-hover)', border: 'none', color: 'var(--lg-text-muted)' },
})

/** The parts of the configuration that change while a file is open. */
export class EditorCompartments {
  readonly language = new Compartment()
  readonly fontSize = new Compartment()
  readonly indentation = new Compartment()
  readonly wrap = new Compartment()
  readonly readOnly = new Compartment()
  readonly lineSeparator = new Compartment()
}

export function fontSizeExtension(size: number): Extension {
  return EditorView.theme({ '&': { fontSize: `${size}px` } })
}

export function indentationExtension(settings: Pick<EditorSettings, 'indentSize' | 'tabs'>): Extension {
  const unit = settings.tabs ? '\t' : ' '.repeat(settings.indentSize)
  return [indentUnit.of(unit), EditorState.tabSize.of(settings.indentSize)]
}

export function wrapExtension(wrap: boolean): Extension {
  return wrap ? EditorView.lineWrapping : []
}

export function readOnlyExtension(readOnly: boolean): Extension {
  return [EditorState.readOnly.of(readOnly), EditorView.editable.of(!readOnly)]
}

export interface SetupOptions {
  settings: EditorSettings
  readOnly: boolean
  /** Keys of the pane (save, run) that take precedence over the editor's own. */
  keys: readonly KeyBinding[]
  /** The user (or another copy of the document) changed the text. */
  onChange: (update: ViewUpdate) => void
  onCursor: (line: number, column: number) => void
}

/** Everything an editor view needs except the document and the language. */
export function editorExtensions(compartments: EditorCompartments, options: SetupOptions): Extension[] {
  return [
    lineNumbers(),
    highlightActiveLineGutter(),
    highlightSpecialChars(),
    history(),
    foldGutter(),
    drawSelection(),
    dropCursor(),
    EditorState.allowMultipleSelections.of(true),
    indentOnInput(),
    syntaxHighlighting(highlight),
    bracketMatching(),
    closeBrackets(),
    autocompletion(),
    rectangularSelection(),
    crosshairCursor(),
    highlightActiveLine(),
    highlightSelectionMatches(),
    keymap.of([
      ...options.keys,
      ...closeBracketsKeymap,
      ...defaultKeymap,
      ...searchKeymap,
      ...historyKeymap,
      ...foldKeymap,
      ...completionKeymap,
      indentWithTab,
    ]),
    chrome,
    compartments.language.of([]),
    compartments.fontSize.of(fontSizeExtension(options.settings.fontSize)),
    compartments.indentation.of(indentationExtension(options.settings)),
    compartments.wrap.of(wrapExtension(options.settings.wrap)),
    compartments.readOnly.of(readOnlyExtension(options.readOnly)),
    EditorView.updateListener.of((update) => {
      if (update.docChanged) options.onChange(update)
      if (update.selectionSet || update.docChanged) {
        const head = update.state.selection.main.head
        const line = update.state.doc.lineAt(head)
        options.onCursor(line.number, head - line.from + 1)
      }
    }),
  ]
}
