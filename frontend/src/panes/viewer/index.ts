// The viewers (issue 4): images, PDF, text and logs, tables, JSON, Markdown, HTML. The
// pane is loaded on first use; the choice of viewer for a double-clicked file is made
// here (small), so the file browser needs nothing of the viewers' code.
import { defineAsyncComponent } from 'vue'
import { icons } from '../../ui/icons'
import { EDITOR_PANE, openEditor, openViewer, setFileOpener, VIEWER_PANE } from '../opening'
import { hasPane, registerPane } from '../registry'
import { chooseViewer } from './viewerChoice'

registerPane({
  kind: VIEWER_PANE,
  title: 'Viewer',
  component: defineAsyncComponent(() => import('./ViewerPane.vue')),
  icon: icons.eye,
  inMenu: false,
})

setFileOpener((resourceId, path, entry) => {
  const choice = chooseViewer(entry.name, hasPane(EDITOR_PANE))
  if (choice.kind === 'editor') openEditor(resourceId, path)
  else openViewer(resourceId, path, choice.viewer)
})
