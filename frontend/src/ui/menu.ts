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
  select: () => void
}
