// The file browser (issue 4): one resource's files, opened from the Resources pane or
// by a saved layout. Loaded on first use, as its own chunk.
import { defineAsyncComponent } from 'vue'
import { icons } from '../../ui/icons'
import { FILES_PANE } from '../opening'
import { registerPane } from '../registry'

registerPane({
  kind: FILES_PANE,
  title: 'Files',
  component: defineAsyncComponent(() => import('./FilesPane.vue')),
  icon: icons.folder,
  inMenu: false,
})
