// Remote desktops (issue 17): a session whose template's view is `desktop` opens here,
// drawn by noVNC over labgate's RFB socket. Loaded when first shown, so noVNC stays out
// of the start-up bundle; opened from a session (never from the Panes menu).
import { defineAsyncComponent } from 'vue'
import { icons } from '../../ui/icons'
import { DESKTOP_PANE } from '../opening'
import { registerPane } from '../registry'

registerPane({
  kind: DESKTOP_PANE,
  title: 'Desktop',
  component: defineAsyncComponent(() => import('./DesktopPane.vue')),
  icon: icons.monitor,
  inMenu: false,
})
