import { api, type ApiClient } from './client'

export type Severity = 'info' | 'warning' | 'critical'
export const SEVERITIES: readonly Severity[] = ['info', 'warning', 'critical']

/** An announcement as every user sees it (a banner under the top bar). */
export interface CurrentAnnouncement {
  id: number
  text: string
  severity: Severity
  starts_at: string
  ends_at: string
}

/** As administrators manage it. */
export interface Announcement extends CurrentAnnouncement {
  email: boolean
  /** When it was sent out (notifications, and e-mail when `email`); null: not yet. */
  emailed_at: string | null
  created_by: string | null
  created_at: string
  status: 'scheduled' | 'current' | 'past'
}

export interface AnnouncementInput {
  text: string
  severity: Severity
  /** ISO time with its zone; null: now. */
  starts_at: string | null
  ends_at: string
  email: boolean
}

export async function currentAnnouncements(client: ApiClient = api): Promise<CurrentAnnouncement[]> {
  return (await client.get<{ announcements: CurrentAnnouncement[] }>('/announcements/current')).announcements
}

export async function listAnnouncements(client: ApiClient = api): Promise<Announcement[]> {
  return (await client.get<{ announcements: Announcement[] }>('/announcements')).announcements
}

export function createAnnouncement(input: AnnouncementInput, client: ApiClient = api): Promise<Announcement> {
  return client.post<Announcement>('/announcements', input)
}

export function changeAnnouncement(id: number, input: Partial<AnnouncementInput>, client: ApiClient = api): Promise<Announcement> {
  return client.patch<Announcement>(`/announcements/${encodeURIComponent(String(id))}`, input)
}

export function deleteAnnouncement(id: number, client: ApiClient = api): Promise<void> {
  return client.delete<void>(`/announcements/${encodeURIComponent(String(id))}`)
}
