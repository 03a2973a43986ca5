// The viewers (issue 4): images, PDF, text and logs, tables, JSON, Markdown, HTML. The
// pane and the viewers are loaded on first use; the choice of viewer for a double-clicked
// file is made here (small), so the file browser needs nothing of the viewers' code.
// Plug-ins' viewers register in the same registry (plugins/api.ts).
import { computed, defineAsyncComponent } from 'vue'
import { session } from '../../stores/session'
import { icons } from '../../ui/icons'
import { EDITOR_PANE, openEditor, openViewer, setFileOpener, VIEWER_PANE } from '../opening'
import { hasPane, registerPane } from '../registry'
import { getViewer, registerViewer } from './registry'
import { chooseViewer, tableFor } from './viewerChoice'

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

// The server's table, of the viewers whose component is registered (a plug-in's bundle may have failed).
const table = computed(() => tableFor(session.server?.viewers, (component) => getViewer(component) !== undefined))

setFileOpener((resourceId, path, entry) => {
  const choice = chooseViewer(entry.name, hasPane(EDITOR_PANE), table.value)
  if (choice.kind === 'editor') openEditor(resourceId, path)
  else openViewer(resourceId, path, choice.viewer)
})
