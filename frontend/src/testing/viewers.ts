/**
 * labgate's own viewers as its server lists them in /api/v1/info `viewers`
 * (labgate/web/viewers.py; tests/test_plugin_hooks.py checks that the two agree).
 */
import type { ViewerRule } from '../panes/viewer/viewerChoice'

export const SERVER_VIEWERS: readonly (ViewerRule & { component: string })[] = [
  { id: 'image', component: 'ImageViewer', extensions: ['png', 'jpg', 'jpeg', 'gif', 'svg', 'webp', 'avif', 'bmp', 'ico'], names: [], priority: 0 },
  { id: 'pdf', component: 'PdfViewer', extensions: ['pdf'], names: [], priority: 0 },
  { id: 'table', component: 'TableViewer', extensions: ['csv', 'tsv', 'tab'], names: [], priority: 0 },
  { id: 'json', component: 'JsonViewer', extensions: ['json', 'geojson', 'ipynb'], names: [], priority: 0 },
  { id: 'markdown', component: 'MarkdownViewer', extensions: ['md', 'markdown'], names: [], priority: 0 },
  { id: 'html', component: 'HtmlViewer', extensions: ['html', 'htm'], names: [], priority: 0 },
  { id: 'text', component: 'TextViewer', extensions: ['log', 'txt', 'out', 'err', 'text'], names: [], priority: 0 },
]
