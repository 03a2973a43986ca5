/**
 * Line icons (24x24, drawn with the current text colour). Each value is SVG path data,
 * so panes can pass one as `icon` when they register.
 */
export const icons = {
  sun: 'M12 2.5v2M12 19.5v2M2.5 12h2M19.5 12h2M5.3 5.3l1.4 1.4M17.3 17.3l1.4 1.4M5.3 18.7l1.4-1.4M17.3 6.7l1.4-1.4M16 12a4 4 0 1 1-8 0 4 4 0 1 1 8 0',
  moon: 'M20 14.5A8 8 0 0 1 9.5 4a8 8 0 1 0 10.5 10.5z',
  monitor: 'M3.5 4.5h17v11h-17zM9 20h6M12 15.5V20',
  chevronDown: 'M6 9l6 6 6-6',
  splitRight: 'M3.5 4.5h17v15h-17zM12 4.5v15',
  splitDown: 'M3.5 4.5h17v15h-17zM3.5 12h17',
  close: 'M6.5 6.5l11 11M17.5 6.5l-11 11',
  sliders: 'M4 7h9M17 7h3M4 17h3M11 17h9M15 5v4M9 15v4',
  lock: 'M5.5 11h13v9.5h-13zM8.5 11V7.5a3.5 3.5 0 0 1 7 0V11',
  key: 'M20 8.5a4.5 4.5 0 1 1-9 0 4.5 4.5 0 1 1 9 0zM12.3 11.7L4 20M6.5 17.5l2 2M8.5 15.5l1.5 1.5',
  logout: 'M14 4h4a2 2 0 0 1 2 2v12a2 2 0 0 1-2 2h-4M9 8l-4 4 4 4M5 12h10',
  copy: 'M9 9h11v11H9zM5 15H4V4h11v1',
  check: 'M5 12.5l4.5 4.5L19 7.5',
  plus: 'M12 5v14M5 12h14',
  home: 'M4 11l8-6.5 8 6.5v8.5h-5.5v-5h-5v5H4z',
  layout: 'M3.5 4.5h17v15h-17zM3.5 9h17M10 9v10.5',
  externalLink: 'M14 4h6v6M20 4l-9 9M18 14v6H4V6h6',
  user: 'M16 8a4 4 0 1 1-8 0 4 4 0 1 1 8 0zM4.5 20a7.5 7.5 0 0 1 15 0',
} as const

export type IconName = keyof typeof icons
