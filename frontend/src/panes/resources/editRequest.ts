/**
 * A resource to edit, asked for from outside the Resources pane: the Connect dialog's
 * "Edit resource" in the Welcome pane or in a pane that waits for a login. The Resources
 * pane (opened or brought to the front by the asker) opens its edit dialog for it and
 * takes the request, so it is answered once.
 */
import { shallowRef } from 'vue'

export const resourceToEdit = shallowRef<number | null>(null)

export function askToEdit(resourceId: number): void {
  resourceToEdit.value = resourceId
}

/** The resource asked for, if any; the request is answered by taking it. */
export function takeEditRequest(): number | null {
  const asked = resourceToEdit.value
  resourceToEdit.value = null
  return asked
}
