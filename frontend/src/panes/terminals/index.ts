// The Terminals pane (issue 4): the user's terminals on their connected resources, to
// open again or end. Loaded when first shown.
import { defineAsyncComponent } from 'vue'
import { icons } from '../../ui/icons'
import { registerPane } from '../registry'

registerPane({
  kind: 'terminals',
  title: 'Terminals',
  component: defineAsyncComponent(() => import('./TerminalsPane.vue')),
  icon: icons.terminal,
})
