// The viewers (issue 4): images, PDF, text and logs, tables, JSON, Markdown, HTML. The
// pane and the viewers are loaded on first use; the choice of viewer for a double-clicked
// file is made here (small), so the file browser needs nothing of the viewers' code.
// Plug-ins' viewers register in the same registry (plugins/api.ts).
import { defineAsyncComponent } from 'vue'
import { session } from '../../stores/session'
import { icons } from '../../ui/icons'
import { EDITOR_PANE, openEditor, openViewer, setFileOpener, VIEWER_PANE } from '../opening'
import { hasPane, registerPane } from '../registry'
import { registerViewer } from './registry'
import { chooseViewer, tableFor, type ViewerTable } from './viewerChoice'

registerPane({
  kind: VIEWER_PANE,
  title: 'Viewer',
  component: defineAsyncComponent(() => import('./ViewerPane.vue')),
  icon: icons.eye,
  inMenu: false,
})

registerViewer('ImageViewer', defineAsyncComponent(() => import('./ImageViewer.vue')))
registerViewer('PdfViewer', defineAsyncComponent(() => import('./PdfViewer.vue')))
registerViewer('TextViewer', defineAsyncComponent(() => import('./TextViewer.vue')))
registerViewer('TableViewer', defineAsyncComponent(() => import('./TableViewer.vue')))
registerViewer('JsonViewer', defineAsyncComponent(() => import('./JsonViewer.vue')))
registerViewer('MarkdownViewer', defineAsyncComponent(() => import('./MarkdownViewer.vue')))
registerViewer('HtmlViewer', defineAsyncComponent(() => import('./HtmlViewer.vue')))

// The server's table, made once per answer of /api/v1/info.
let made: { from: unknown; table: ViewerTable } | null = null
function currentTable(): ViewerTable {
  const viewers = session.server?.viewers
  if (!made || made.from !== viewers) made = { from: viewers, table: tableFor(viewers) }
  return made.table
}

setFileOpener((resourceId, path, entry) => {
  const choice = chooseViewer(entry.name, hasPane(EDITOR_PANE), currentTable())
  if (choice.kind === 'editor') openEditor(resourceId, path)
  else openViewer(resourceId, path, choice.viewer)
})
