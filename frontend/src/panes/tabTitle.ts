/**
 * What the tab of a pane showing one file of one resource says: the file's name and the
 * resource's, so that two `data.csv` of two computers are told apart at a glance. Editor
 * and viewer tabs use it (the file browser's says its folder the same way); the unsaved
 * marker is not part of the title (see `unsavedPanes` in workspace.ts).
 */

/** "fit.py — cluster"; just the name until the resource's name is known. */
export function fileTabTitle(fileName: string, resourceName: string | undefined): string {
  return resourceName ? `${fileName} — ${resourceName}` : fileName
}
