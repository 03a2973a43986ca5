import { api, type ApiClient } from './client'

/** What a notification is about, for opening it. */
export interface NotificationSubject {
  session?: string
  /** With `session`: open its sharing dialog (someone joined it). */
  sharing?: boolean
  experiment?: number
  announcement?: number
}

export interface AppNotification {
  id: number
  /** session_warning, share, join, extension, announcement, quota */
  kind: string
  title: string
  body: string
  subject: NotificationSubject
  created_at: string
  read_at: string | null
}

export interface NotificationList {
  notifications: AppNotification[]
  /** How many of all of the user's notifications are unread. */
  unread: number
}

export function listNotifications(limit = 50, client: ApiClient = api): Promise<NotificationList> {
  return client.get<NotificationList>(`/notifications?limit=${limit}`)
}

/** Mark `ids` read, or all of them (`'all'`); the unread count after. */
export async function markNotificationsRead(ids: number[] | 'all', client: ApiClient = api): Promise<number> {
  const answer = await client.post<{ marked: number; unread: number }>(
    '/notifications/read',
    ids === 'all' ? { all: true } : { ids },
  )
  return answer.unread
}

export function deleteNotification(id: number, client: ApiClient = api): Promise<void> {
  return client.delete<void>(`/notifications/${encodeURIComponent(String(id))}`)
}
