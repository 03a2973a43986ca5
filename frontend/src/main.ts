import 'dockview-vue/dist/styles/dockview.css'
import './styles/theme.css'
import './styles/base.css'
import './styles/controls.css'

import { createApp, watchEffect } from 'vue'
import App from './App.vue'
import './panes/builtin'
import { preferences } from './stores/preferences'
import { startSession } from './stores/session'

// <html data-theme> is always the resolved theme ("light" or "dark"); theme.css keys off it.
watchEffect(() => {
  document.documentElement.dataset.theme = preferences.resolvedTheme.value
})

createApp(App).mount('#app')
void startSession()
