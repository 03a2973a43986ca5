// Experiments (issue 18): the user's experiments with their data, and, for
// administrators, every experiment to create, change, delete and import. Each pane is
// loaded when first shown.
import { defineAsyncComponent } from 'vue'
import { icons } from '../../ui/icons'
import { EXPERIMENTS_ADMIN_PANE, EXPERIMENTS_PANE } from '../opening'
import { registerPane } from '../registry'

registerPane({
  kind: EXPERIMENTS_PANE,
  title: 'Experiments',
  component: defineAsyncComponent(() => import('./ExperimentsPane.vue')),
  icon: icons.flask,
})

registerPane({
  kind: EXPERIMENTS_ADMIN_PANE,
  title: 'Experiments',
  component: defineAsyncComponent(() => import('./ExperimentsAdminPane.vue')),
  icon: icons.flask,
  adminOnly: true,
})
