/**
 * What the file browser does to files: create, rename, delete, chmod, copy and move
 * (within a resource with the Files API, between resources with a transfer job), upload
 * and download. Every failure ends up in `problem` as the server's own sentence; a name
 * that exists is asked about, never replaced silently.
 */
import { shallowRef, type Ref, type ShallowRef } from 'vue'
import { ApiError } from '../../api/client'
import {
  changeMode,
  childPath,
  contentUrl,
  copyPath,
  deletePath,
  displayPath,
  makeDirectory,
  renamePath,
  writeFile,
  type FileEntry,
  type RemotePath,
} from '../../api/files'
import { archiveUrl, type ArchiveFormat, type Transfer } from '../../api/transfers'
import { resourcesStore } from '../../stores/resources'
import { startDownload } from '../../ui/download'
import type { FileClipboard } from './clipboard'
import { isInside, placeAll, type ConflictAnswer, type ConflictQuestion, type PlacementItem, type PlacementResult } from './conflicts'
import { entryKey, isFolder } from './listing'
import { keepBothName, nameProblem } from './names'
import { startJob, uploadFile } from './transferTasks'
import type { PickedFile } from './uploads'

export interface ConflictPrompt extends ConflictQuestion {
  folder: string
  /** false for transfers, which can replace or skip but not rename. */
  canKeepBoth: boolean
  resolve: (answer: ConflictAnswer) => void
}

export interface ActionContext {
  resourceId: number
  dir: ShallowRef<RemotePath | null>
  entries: ShallowRef<FileEntry[]>
  /** List the folder again; `select` names the entry to select (and rename) after. */
  reload: (select?: string) => Promise<void>
  problem: Ref<string | null>
}

function messageOf(error: unknown): string {
  if (error instanceof ApiError) return error.message
  return error instanceof Error ? error.message : String(error)
}

function summarise(verb: string, result: PlacementResult): string | null {
  if (result.failed.length === 0) return null
  const first = result.failed[0]
  const others = result.failed.length > 1 ? ` (and ${result.failed.length - 1} more)` : ''
  return `Could not ${verb} ${first?.name}${others}: ${first ? messageOf(first.error) : ''}`
}

export function useFileActions(ctx: ActionContext) {
  const conflict = shallowRef<ConflictPrompt | null>(null)

  function ask(folder: string, canKeepBoth: boolean) {
    return (question: ConflictQuestion): Promise<ConflictAnswer> =>
      new Promise((resolve) => {
        conflict.value = {
          ...question,
          folder,
          canKeepBoth,
          resolve: (answer) => {
            conflict.value = null
            resolve(answer)
          },
        }
      })
  }

  function here(): RemotePath {
    const dir = ctx.dir.value
    if (!dir) throw new Error('No folder is shown yet')
    return dir
  }

  function takenNames(): Set<string> {
    return new Set(ctx.entries.value.map((e) => e.name))
  }

  function fail(error: unknown, what: string): void {
    ctx.problem.value = `${what}: ${messageOf(error)}`
  }

  async function createFolder(): Promise<void> {
    const taken = takenNames()
    const name = taken.has('New folder') ? keepBothName('New folder', taken, true) : 'New folder'
    try {
      await makeDirectory(ctx.resourceId, childPath(here(), { name }))
      await ctx.reload(name)
    } catch (error) {
      fail(error, 'Could not create a folder')
    }
  }

  async function createFile(): Promise<void> {
    const taken = takenNames()
    const name = taken.has('untitled.txt') ? keepBothName('untitled.txt', taken) : 'untitled.txt'
    try {
      await writeFile(ctx.resourceId, childPath(here(), { name }), new Blob([]), { createOnly: true })
      await ctx.reload(name)
    } catch (error) {
      fail(error, 'Could not create a file')
    }
  }

  /** Rename in place; true when the inline field may close. */
  async function rename(entry: FileEntry, name: string): Promise<boolean> {
    if (name === entry.name) return true
    const problem = nameProblem(name)
    if (problem) {
      ctx.problem.value = problem
      return false
    }
    const dir = here()
    const from = childPath(dir, entry)
    const item: PlacementItem = {
      name,
      isFolder: isFolder(entry),
      place: (target, overwrite) => renamePath(ctx.resourceId, from, childPath(dir, { name: target }), { overwrite }),
    }
    const result = await placeAll([item], takenNames(), ask(displayPath(dir), true))
    const failure = result.failed[0]
    if (failure) ctx.problem.value = `Could not rename ${entry.name} to ${name}: ${messageOf(failure.error)}`
    if (result.done.length) await ctx.reload(result.done[0]) // skipped or refused: nothing changed
    return true
  }

  async function remove(entries: FileEntry[]): Promise<string | null> {
    const dir = here()
    const failures: string[] = []
    for (const entry of entries) {
      try {
        await deletePath(ctx.resourceId, childPath(dir, entry), { recursive: entry.kind === 'directory' })
      } catch (error) {
        failures.push(`${entry.name}: ${messageOf(error)}`)
      }
    }
    await ctx.reload()
    if (failures.length === 0) return null
    return `Could not delete ${failures.join('; ')}`
  }

  async function chmod(entry: FileEntry, mode: number): Promise<string | null> {
    try {
      await changeMode(ctx.resourceId, childPath(here(), entry), mode)
      await ctx.reload(entry.name)
      return null
    } catch (error) {
      return messageOf(error)
    }
  }

  /** Copy or move `source` entries into `dest` (a folder of this pane's resource, or another's). */
  async function place(source: Omit<FileClipboard, 'mode'>, move: boolean, dest: RemotePath): Promise<void> {
    const entries = source.entries.filter((entry) => {
      const from = childPath(source.dir, entry)
      return !(source.resourceId === ctx.resourceId && isInside(dest, from))
    })
    if (entries.length < source.entries.length) {
      ctx.problem.value = 'A folder cannot be put inside itself: it was left where it is.'
    }
    if (entries.length === 0) return
    if (source.resourceId !== ctx.resourceId) {
      await transfer({ ...source, entries }, move, dest)
      return
    }
    if (move && JSON.stringify(source.dir) === JSON.stringify(dest)) return // already there
    const sameFolder = JSON.stringify(dest) === JSON.stringify(ctx.dir.value)
    const items: PlacementItem[] = entries.map((entry) => ({
      name: entry.name,
      isFolder: isFolder(entry),
      place: (name, overwrite) => {
        const target = name === entry.name ? childPath(dest, entry) : childPath(dest, { name })
        const from = childPath(source.dir, entry)
        return move
          ? renamePath(ctx.resourceId, from, target, { overwrite })
          : copyPath(ctx.resourceId, from, target, { overwrite })
      },
    }))
    const result = await placeAll(items, sameFolder ? takenNames() : new Set(), ask(displayPath(dest), true))
    const failed = summarise(move ? 'move' : 'copy', result)
    if (failed) ctx.problem.value = failed
    await ctx.reload(result.done.length === 1 ? result.done[0] : undefined)
  }

  async function transfer(source: Omit<FileClipboard, 'mode'>, move: boolean, dest: RemotePath, overwrite = false): Promise<void> {
    const from = resourcesStore.find(source.resourceId)?.name ?? `resource ${source.resourceId}`
    const to = resourcesStore.find(ctx.resourceId)?.name ?? `resource ${ctx.resourceId}`
    const what = source.entries.length === 1 ? source.entries[0]?.name : `${source.entries.length} items`
    const label = `${move ? 'Move' : 'Copy'} ${what} from ${from} to ${to}:${displayPath(dest)}`
    const onFinished = (done: Transfer): void => {
      if (done.state === 'failed' && done.error) ctx.problem.value = `${label} failed: ${done.error.message}`
    }
    try {
      await startJob(
        {
          sourceResource: source.resourceId,
          paths: source.entries.map((entry) => childPath(source.dir, entry)),
          destinationResource: ctx.resourceId,
          destinationDir: dest,
          move,
          overwrite,
        },
        label,
        onFinished,
      )
    } catch (error) {
      if (!(error instanceof ApiError && error.code === 'exists') || overwrite) {
        fail(error, `Could not ${move ? 'move' : 'copy'} ${what}`)
        return
      }
      // Some names exist there: ask (replace or skip) for each, then send what is left.
      const existing = new Set(
        error.details.map((d) => Number(/paths\.(\d+)/.exec(d.field)?.[1])).filter((i) => Number.isInteger(i)),
      )
      const keep: FileEntry[] = []
      let replaceAny = false
      let standing: ConflictAnswer | null = null
      for (const [index, entry] of source.entries.entries()) {
        if (!existing.has(index)) {
          keep.push(entry)
          continue
        }
        const answer: ConflictAnswer =
          standing ?? (await ask(displayPath(dest), false)({ name: entry.name, suggestion: '', more: existing.size > 1 }))
        if (answer.forAll) standing = answer
        if (answer.resolution === 'replace') {
          keep.push(entry)
          replaceAny = true
        }
      }
      if (keep.length === 0) return
      await transfer({ ...source, entries: keep }, move, dest, replaceAny)
    }
  }

  async function upload(files: PickedFile[], dest: RemotePath = here()): Promise<void> {
    const items: PlacementItem[] = files.map(({ file, relativePath }) => ({
      name: relativePath,
      isFolder: false,
      place: (name, overwrite) => uploadFile(ctx.resourceId, dest, name, file, { overwrite }),
    }))
    const result = await placeAll(items, JSON.stringify(dest) === JSON.stringify(ctx.dir.value) ? takenNames() : new Set(), ask(displayPath(dest), true))
    const failed = result.failed.filter((f) => !(f.error instanceof DOMException && f.error.name === 'AbortError'))
    if (failed.length) {
      ctx.problem.value = summarise('upload', { ...result, failed })
    }
    await ctx.reload()
  }

  function downloadEntries(entries: FileEntry[], format: ArchiveFormat = 'zip'): void {
    const dir = here()
    const only = entries[0]
    if (entries.length === 1 && only && !isFolder(only)) {
      startDownload(contentUrl(ctx.resourceId, childPath(dir, only), { download: true }))
      return
    }
    if (entries.length === 0) return
    startDownload(archiveUrl(ctx.resourceId, entries.map((e) => childPath(dir, e)), format))
  }

  /** The folder itself as one zip (named after it). */
  function downloadFolder(folder: RemotePath): void {
    startDownload(archiveUrl(ctx.resourceId, [folder], 'zip'))
  }

  return { conflict, downloadFolder, createFolder, createFile, rename, remove, chmod, place, upload, downloadEntries, entryKey }
}
