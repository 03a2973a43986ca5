/** A date for people: "22 Nov 2026" in the browser's locale; `fallback` for null. */
export function formatDate(iso: string | null, fallback = '—'): string {
  if (!iso) return fallback
  const date = new Date(iso)
  if (Number.isNaN(date.getTime())) return iso
  return date.toLocaleDateString(undefined, { year: 'numeric', month: 'short', day: 'numeric' })
}

/** Copy text to the clipboard; false when the browser refuses (e.g. plain HTTP, no permission). */
export async function copyText(text: string, fallbackInput?: HTMLInputElement | null): Promise<boolean> {
  try {
    if (navigator.clipboard && window.isSecureContext) {
      await navigator.clipboard.writeText(text)
      return true
    }
  } catch {
    // Fall through to the selection-based copy.
  }
  if (!fallbackInput) return false
  fallbackInput.focus()
  fallbackInput.select()
  try {
    // Deprecated, but the only way to copy on a non-secure origin.
    return document.execCommand('copy')
  } catch {
    return false
  }
}
