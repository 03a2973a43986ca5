// The administrators' Quotas pane (issue 18): each role's limits, and groups' and
// experiments'. Offered in the Administration menu; loaded when first shown.
import { defineAsyncComponent } from 'vue'
import { icons } from '../../ui/icons'
import { QUOTAS_PANE } from '../opening'
import { registerPane } from '../registry'

registerPane({
  kind: QUOTAS_PANE,
  title: 'Quotas',
  component: defineAsyncComponent(() => import('./QuotasPane.vue')),
  icon: icons.chart,
  adminOnly: true,
})
