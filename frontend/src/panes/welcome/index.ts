// The built-in Welcome pane registers itself like any other pane.
import { icons } from '../../ui/icons'
import { registerPane } from '../registry'
import WelcomePane from './WelcomePane.vue'

registerPane({ kind: 'welcome', title: 'Welcome', component: WelcomePane, icon: icons.home })
