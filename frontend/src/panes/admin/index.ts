// The administrators' pages (issue 16): requests for more time, and users. Offered in
// the top bar's Administration menu to administrators only; each loaded when first shown.
import { defineAsyncComponent } from 'vue'
import { icons } from '../../ui/icons'
import { EXTENSION_REQUESTS_PANE, USERS_PANE } from '../opening'
import { registerPane } from '../registry'

registerPane({
  kind: EXTENSION_REQUESTS_PANE,
  title: 'Requests for more time',
  component: defineAsyncComponent(() => import('./ExtensionRequestsPane.vue')),
  icon: icons.clock,
  adminOnly: true,
})

registerPane({
  kind: USERS_PANE,
  title: 'Users',
  component: defineAsyncComponent(() => import('./UsersPane.vue')),
  icon: icons.user,
  adminOnly: true,
})
