import { describe, expect, it } from 'vitest'
import { archiveUrl, isFinished, transferBody } from './transfers'

describe('transferBody', () => {
  it('sends text paths as text', () => {
    expect(
      transferBody({ sourceResource: 1, paths: [{ path: '/a/x' }, { path: '/a/y' }], destinationResource: 2, destinationDir: { path: '/b' }, move: true }),
    ).toEqual({ source_resource: 1, destination_resource: 2, move: true, overwrite: false, paths: ['/a/x', '/a/y'], destination_dir: '/b' })
  })
  it('sends every path as bytes when one is not UTF-8', () => {
    const body = transferBody({ sourceResource: 1, paths: [{ path: '/a/é' }, { path_raw: 'L2Ev/w==' }], destinationResource: 1, destinationDir: { path_raw: 'L2I=' } })
    expect(body.paths_raw).toEqual([btoa('/a/\xc3\xa9'), 'L2Ev/w=='])
    expect(body.paths).toBeUndefined()
    expect(body.destination_dir_raw).toBe('L2I=')
  })
})

describe('archiveUrl', () => {
  it('repeats path for each selected entry', () => {
    const url = archiveUrl(3, [{ path: '/d/a b' }, { path_raw: '/w==' }], 'tar.gz')
    expect(url).toBe('/api/v1/resources/3/files/archive?path=%2Fd%2Fa+b&path_raw=%2Fw%3D%3D&format=tar.gz')
  })
})

describe('isFinished', () => {
  it('knows the end states', () => {
    expect(['running', 'cancelling', 'succeeded', 'failed', 'cancelled'].map((s) => isFinished(s as never))).toEqual([false, false, true, true, true])
  })
})
