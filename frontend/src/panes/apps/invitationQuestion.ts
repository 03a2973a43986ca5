/**
 * The workspace's question before joining a session by an invitation link: the link's
 * preview waits here for the user's answer (InvitationConfirm.vue shows it).
 */
import { shallowRef } from 'vue'
import type { InvitationPreview } from '../../api/sharing'

export interface InvitationQuestion {
  preview: InvitationPreview
  answer: (join: boolean) => void
}

/** The question being asked, or null. */
export const invitationQuestion = shallowRef<InvitationQuestion | null>(null)

/** Ask the user; resolves with their answer (true: join). */
export function askToJoin(preview: InvitationPreview): Promise<boolean> {
  return new Promise((resolve) => {
    invitationQuestion.value = {
      preview,
      answer: (join) => {
        invitationQuestion.value = null
        resolve(join)
      },
    }
  })
}
