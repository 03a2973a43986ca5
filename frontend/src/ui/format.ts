/** A date for people: "22 Nov 2026" in the browser's locale; `fallback` for null. */
export function formatDate(iso: string | null, fallback = '—'): string {
  if (!iso) return fallback
  const date = new Date(iso)
  if (Number.isNaN(date.getTime())) return iso
  return date.toLocaleDateString(undefined, { year: 'numeric', month: 'short', day: 'numeric' })
}

/** Copy text to the clipboard; false when the browser refuses (e.g. plain HTTP, no permission). */
export async function copyText(
  text: string,
  fallbackInput?: HTMLInputElement | HTMLTextAreaElement | null,
): Promise<boolean> {
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

/** A date and time for people: "22 Nov 2026, 10:32"; `fallback` for null. */
export function formatDateTime(iso: string | null, fallback = '—'): string {
  if (!iso) return fallback
  const date = new Date(iso)
  if (Number.isNaN(date.getTime())) return iso
  return date.toLocaleString(undefined, {
    year: 'numeric',
    month: 'short',
    day: 'numeric',
    hour: '2-digit',
    minute: '2-digit',
  })
}

const BYTE_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB']

/** Bytes in binary units: "512 B", "1.5 KiB", "15.6 GiB", "931 GiB" (three significant digits). */
export function formatBytes(bytes: number | null | undefined, fallback = '—'): string {
  if (bytes === null || bytes === undefined || !Number.isFinite(bytes) || bytes < 0) return fallback
  let value = bytes
  let unit = 0
  while (value >= 1024 && unit < BYTE_UNITS.length - 1) {
    value /= 1024
    unit += 1
  }
  if (unit === 0) return `${Math.round(value)} B`
  const text = value >= 100 ? value.toFixed(0) : value >= 10 ? value.toFixed(1) : value.toFixed(2)
  // 1.50 -> 1.5, 10.0 -> 10
  return `${text.includes('.') ? text.replace(/\.?0+$/, '') : text} ${BYTE_UNITS[unit]}`
}

/** `used` of `total` as a whole percentage (0..100), 0 when the total is unknown. */
export function percentOf(used: number, total: number): number {
  if (!Number.isFinite(used) || !Number.isFinite(total) || total <= 0) return 0
  return Math.max(0, Math.min(100, Math.round((used / total) * 100)))
}

/** A load average: "0.42", "12.3". */
export function formatLoad(load: number | null | undefined): string {
  if (load === null || load === undefined || !Number.isFinite(load)) return '—'
  return load >= 10 ? load.toFixed(1) : load.toFixed(2)
}
