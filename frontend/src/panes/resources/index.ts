// The Resources pane: the computers labgate works on (issue 3). Loaded when first shown,
// so the start-up bundle stays small.
import { defineAsyncComponent } from 'vue'
import { icons } from '../../ui/icons'
import { registerPane } from '../registry'

registerPane({
  kind: 'resources',
  title: 'Resources',
  component: defineAsyncComponent(() => import('./ResourcesPane.vue')),
  icon: icons.server,
})
