/** One entry of a {@link MenuButton} menu. */
export interface MenuItem {
  key: string
  label: string
  icon?: string
  testid?: string
  /** Draw a divider above this item. */
  separatorBefore?: boolean
  select: () => void
}
