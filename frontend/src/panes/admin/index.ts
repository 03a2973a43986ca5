// The administration console (issues 16, 18 and 19): users, groups, guest invitations,
// shared resources, app templates, all sessions, requests for more time and the audit
// log. Offered in the top bar's Administration menu to administrators only (in the order
// of shell/adminOrder.ts); each loaded when first shown.
import { defineAsyncComponent } from 'vue'
import { icons } from '../../ui/icons'
import {
  ALL_SESSIONS_PANE,
  ANNOUNCEMENTS_PANE,
  APP_TEMPLATES_PANE,
  AUDIT_LOG_PANE,
  EXTENSION_REQUESTS_PANE,
  GROUPS_PANE,
  GUEST_INVITATIONS_PANE,
  SHARED_RESOURCES_PANE,
  USERS_PANE,
} from '../opening'
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

registerPane({
  kind: GROUPS_PANE,
  title: 'Groups',
  component: defineAsyncComponent(() => import('./GroupsPane.vue')),
  icon: icons.users,
  adminOnly: true,
})

registerPane({
  kind: SHARED_RESOURCES_PANE,
  title: 'Shared resources',
  component: defineAsyncComponent(() => import('./SharedResourcesPane.vue')),
  icon: icons.server,
  adminOnly: true,
})

registerPane({
  kind: APP_TEMPLATES_PANE,
  title: 'App templates',
  component: defineAsyncComponent(() => import('./AppTemplatesPane.vue')),
  icon: icons.apps,
  adminOnly: true,
})

registerPane({
  kind: ALL_SESSIONS_PANE,
  title: 'All sessions',
  component: defineAsyncComponent(() => import('./AllSessionsPane.vue')),
  icon: icons.rocket,
  adminOnly: true,
})

registerPane({
  kind: AUDIT_LOG_PANE,
  title: 'Audit log',
  component: defineAsyncComponent(() => import('./AuditLogPane.vue')),
  icon: icons.fileText,
  adminOnly: true,
})

registerPane({
  kind: ANNOUNCEMENTS_PANE,
  title: 'Announcements',
  component: defineAsyncComponent(() => import('./AnnouncementsPane.vue')),
  icon: icons.megaphone,
  adminOnly: true,
})

registerPane({
  kind: GUEST_INVITATIONS_PANE,
  title: 'Guest invitations',
  component: defineAsyncComponent(() => import('./GuestInvitationsPane.vue')),
  icon: icons.link,
  adminOnly: true,
})
