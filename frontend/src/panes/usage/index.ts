// The Usage pane (issue 18): charts of how labgate is used, for administrators, in the
// top bar's Administration menu; uPlot comes with the pane, loaded when first shown.
import { defineAsyncComponent } from 'vue'
import { icons } from '../../ui/icons'
import { registerPane } from '../registry'

registerPane({
  kind: 'usage',
  title: 'Usage',
  component: defineAsyncComponent(() => import('./UsagePane.vue')),
  icon: icons.chart,
  adminOnly: true,
})
