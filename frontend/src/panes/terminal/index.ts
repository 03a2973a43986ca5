// Terminals (issue 4): a login shell on a resource per pane. Loaded when first shown, so
// xterm.js stays out of the start-up bundle. Opened from the Resources and Terminals
// panes (it needs a resource), so not in the Panes menu.
import { defineAsyncComponent } from 'vue'
import { icons } from '../../ui/icons'
import { SHARED_TERMINAL_PANE, TERMINAL_PANE, type TerminalParams } from '../opening'
import { registerPane } from '../registry'

registerPane({
  kind: TERMINAL_PANE,
  title: 'Terminal',
  component: defineAsyncComponent(() => import('./TerminalPane.vue')),
  icon: icons.terminal,
  inMenu: false,
  // A split opens a new shell on the same resource, not a second view of this one.
  splitParams: (params) => {
    const copy: Partial<TerminalParams> = { ...params }
    delete copy.processId
    return copy
  },
})

// A terminal someone shares with the user (issue 17): opened from the Sessions list.
registerPane({
  kind: SHARED_TERMINAL_PANE,
  title: 'Shared terminal',
  component: defineAsyncComponent(() => import('./SharedTerminalPane.vue')),
  icon: icons.terminal,
  inMenu: false,
})
