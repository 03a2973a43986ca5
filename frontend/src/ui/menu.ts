/** One entry of a {@link MenuButton} menu. */
export interface MenuItem {
  key: string
  label: string
  icon?: string
  testid?: string
  /** Draw a divider above this item. */
  separatorBefore?: boolean
  /** A keyboard shortcut shown beside the label (context menus). */
  shortcut?: string
  /** The item that stands for what is current (the active tab in a list of tabs). */
  current?: boolean
  select: () => void
}

/**
 * Arrow keys, Home and End move the focus among a menu's items (wrapping round). True
 * when `key` was one of them (the caller then prevents its default).
 */
export function moveMenuFocus(key: string, items: readonly HTMLElement[]): boolean {
  const index = items.indexOf(document.activeElement as HTMLElement)
  const focusAt = (i: number): void => items[(i + items.length) % items.length]?.focus()
  if (key === 'ArrowDown') focusAt(index + 1)
  else if (key === 'ArrowUp') focusAt(index - 1)
  else if (key === 'Home') focusAt(0)
  else if (key === 'End') focusAt(items.length - 1)
  else return false
  return true
}
