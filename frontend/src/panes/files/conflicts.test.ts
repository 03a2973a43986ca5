import { describe, expect, it, vi } from 'vitest'
import { ApiError } from '../../api/client'
import { isInside, placeAll, type PlacementItem } from './conflicts'

const exists = (): ApiError => new ApiError(409, 'exists', 'It exists.')

/** A fake folder: placing a taken name fails with 409 exists unless overwrite. */
function folder(initial: string[]) {
  const names = new Set(initial)
  const calls: [string, string, boolean][] = []
  const item = (name: string): PlacementItem => ({
    name,
    isFolder: false,
    place: async (target, overwrite) => {
      calls.push([name, target, overwrite])
      if (names.has(target) && !overwrite) throw exists()
      names.add(target)
    },
  })
  return { names, calls, item }
}

describe('placeAll', () => {
  it('places free names without asking', async () => {
    const f = folder([])
    const ask = vi.fn()
    const result = await placeAll([f.item('a'), f.item('b')], new Set(), ask)
    expect(result.done).toEqual(['a', 'b'])
    expect(ask).not.toHaveBeenCalled()
  })
  it('asks about a name that exists and never overwrites without a yes', async () => {
    const f = folder(['a.txt'])
    const ask = vi.fn().mockResolvedValue({ resolution: 'skip' })
    const result = await placeAll([f.item('a.txt')], new Set(['a.txt']), ask)
    expect(result.skipped).toEqual(['a.txt'])
    expect(f.calls.every(([, , overwrite]) => !overwrite)).toBe(true)
    expect(ask).toHaveBeenCalledWith({ name: 'a.txt', suggestion: 'a (1).txt', more: false })
  })
  it('replaces when told to', async () => {
    const f = folder(['a.txt'])
    const result = await placeAll([f.item('a.txt')], new Set(['a.txt']), async () => ({ resolution: 'replace' }))
    expect(result.done).toEqual(['a.txt'])
    expect(f.calls.at(-1)).toEqual(['a.txt', 'a.txt', true])
  })
  it('keeps both under the suggested name', async () => {
    const f = folder(['a.txt', 'a (1).txt'])
    const result = await placeAll([f.item('a.txt')], new Set(['a.txt', 'a (1).txt']), async () => ({ resolution: 'keep-both' }))
    expect(result.done).toEqual(['a (2).txt'])
    expect(f.names.has('a (2).txt')).toBe(true)
  })
  it('asks once when told to do the same for all', async () => {
    const f = folder(['a', 'b', 'c'])
    const ask = vi.fn().mockResolvedValue({ resolution: 'skip', forAll: true })
    const result = await placeAll([f.item('a'), f.item('b'), f.item('c'), f.item('d')], new Set(['a', 'b', 'c']), ask)
    expect(ask).toHaveBeenCalledTimes(1)
    expect(ask.mock.calls[0]?.[0].more).toBe(true)
    expect(result.skipped).toEqual(['a', 'b', 'c'])
    expect(result.done).toEqual(['d'])
  })
  it('reports other errors per item and goes on', async () => {
    const bad: PlacementItem = { name: 'x', isFolder: false, place: () => Promise.reject(new ApiError(403, 'permission_denied', 'Permission denied.')) }
    const f = folder([])
    const result = await placeAll([bad, f.item('y')], new Set(), vi.fn())
    expect(result.failed.map((r) => [r.name, r.error.message])).toEqual([['x', 'Permission denied.']])
    expect(result.done).toEqual(['y'])
  })
})

describe('isInside', () => {
  it('is true for the folder itself and what is below it, not for siblings', () => {
    expect(isInside({ path: '/a/b' }, { path: '/a/b' })).toBe(true)
    expect(isInside({ path: '/a/b/c' }, { path: '/a/b/' })).toBe(true)
    expect(isInside({ path: '/a/bc' }, { path: '/a/b' })).toBe(false)
  })
})
