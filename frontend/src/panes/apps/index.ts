// Interactive sessions (issue 5): the launcher, the list of sessions, and a pane per
// app. Each is loaded when first shown.
import { defineAsyncComponent } from 'vue'
import { icons } from '../../ui/icons'
import { APP_PANE, LAUNCHER_PANE, SESSIONS_PANE } from '../opening'
import { registerPane } from '../registry'

registerPane({
  kind: LAUNCHER_PANE,
  title: 'Launch an app',
  component: defineAsyncComponent(() => import('./LauncherPane.vue')),
  icon: icons.rocket,
})

registerPane({
  kind: SESSIONS_PANE,
  title: 'Sessions',
  component: defineAsyncComponent(() => import('./SessionsPane.vue')),
  icon: icons.apps,
})

registerPane({
  kind: APP_PANE,
  title: 'App',
  component: defineAsyncComponent(() => import('./AppPane.vue')),
  icon: icons.globe,
  inMenu: false,
})
