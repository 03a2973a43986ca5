// The code editor (issue 4): opened on a file from the file browser (openEditor in
// ../opening.ts), not from the Panes menu. Loaded when first shown, with CodeMirror.
import { defineAsyncComponent } from 'vue'
import { icons } from '../../ui/icons'
import { EDITOR_PANE } from '../opening'
import { registerPane } from '../registry'

registerPane({
  kind: EDITOR_PANE,
  title: 'Editor',
  component: defineAsyncComponent(() => import('./EditorPane.vue')),
  icon: icons.edit,
  inMenu: false,
  guardedClose: true,
})
