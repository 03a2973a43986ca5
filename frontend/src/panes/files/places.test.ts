import { describe, expect, it } from 'vitest'
import type { Favourite } from '../../api/favourites'
import { placesOf } from './places'

const folder = (id: number, target: string, title: string): Favourite => ({ id, kind: 'folder', target, title, preset: null, position: id })

describe('placesOf', () => {
  it('lists the starred folders of this resource first, then home and the root', () => {
    const favourites = [
      folder(1, '3:/data/run2', 'run2 on box'),
      { ...folder(2, '3', 'box'), kind: 'resource' as const },
      folder(3, '31:/elsewhere', 'not here'),
      folder(4, '3:/', 'Everything'),
    ]
    expect(placesOf(3, favourites)).toEqual([
      { label: 'run2 on box', path: '/data/run2', starred: true },
      { label: 'Everything', path: '/', starred: true },
      { label: 'Home folder', path: '~', starred: false },
    ])
  })

  it('takes other places after the starred ones', () => {
    const data = { label: 'Raw data of 12-34', path: '/data/12-34/raw', starred: false }
    expect(placesOf(3, [folder(1, '3:/data/12-34/raw', 'raw')], [data]).map((p) => p.label)).toEqual(['raw'])
    expect(placesOf(3, [], [data])).toEqual([data])
  })
})
