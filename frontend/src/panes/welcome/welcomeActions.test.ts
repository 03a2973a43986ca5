import { describe, expect, it } from 'vitest'
import { ApiError } from '../../api/client'
import type { RemotePath } from '../../api/files'
import type { ConnectionState } from '../../api/resources'
import { makeResource } from '../../testing/resources'
import { createNewScript, firstUsableResource, listedTitles } from './welcomeActions'

function resource(id: number, state: ConnectionState, kind: 'ssh' | 'local' = 'ssh') {
  return makeResource({ id, name: `r${id}`, kind, status: { state, message: '', error: null, since: null } })
}

describe('firstUsableResource', () => {
  it('prefers a connected computer, then the local one, then the first listed', () => {
    expect(firstUsableResource([])).toBeUndefined()
    expect(firstUsableResource([resource(1, 'disconnected'), resource(2, 'disconnected')])?.id).toBe(1)
    expect(firstUsableResource([resource(1, 'disconnected'), resource(2, 'failed', 'local')])?.id).toBe(2)
    expect(firstUsableResource([resource(1, 'disconnected', 'local'), resource(2, 'connected')])?.id).toBe(2)
    expect(firstUsableResource([resource(1, 'reconnecting'), resource(2, 'connected', 'local')])?.id).toBe(2)
    expect(firstUsableResource([resource(1, 'disconnected', 'local'), resource(2, 'connecting')])?.id).toBe(2)
  })
})

describe('listedTitles', () => {
  it('names the apps as a sentence does', () => {
    expect(listedTitles([])).toBeNull()
    expect(listedTitles(['JupyterLab'])).toBe('JupyterLab')
    expect(listedTitles(['JupyterLab', 'TensorBoard'])).toBe('JupyterLab and TensorBoard')
    expect(listedTitles(['JupyterLab', 'TensorBoard', 'Web app'])).toBe('JupyterLab, TensorBoard and Web app')
  })
})

describe('createNewScript', () => {
  const exists = () => new ApiError(409, 'exists', 'A file of that name exists already')

  it('creates untitled.py in the home folder, or the first free name', async () => {
    const existing = new Set(['/home/alice/untitled.py', '/home/alice/untitled (1).py'])
    const tried: string[] = []
    const create = async (path: RemotePath): Promise<void> => {
      const text = 'path' in path ? path.path : ''
      tried.push(text)
      if (existing.has(text)) throw exists()
    }
    expect(await createNewScript('/home/alice/', create)).toEqual({ path: '/home/alice/untitled (2).py' })
    expect(tried).toEqual(['/home/alice/untitled.py', '/home/alice/untitled (1).py', '/home/alice/untitled (2).py'])
  })

  it('passes on any other failure at once', async () => {
    const refused = new ApiError(403, 'permission_denied', 'Permission denied')
    let calls = 0
    const create = async (): Promise<void> => {
      calls += 1
      throw refused
    }
    await expect(createNewScript('/home/alice', create)).rejects.toBe(refused)
    expect(calls).toBe(1)
  })

  it('gives up, saying what to do, when every name is taken', async () => {
    await expect(createNewScript('/home/alice', () => Promise.reject(exists()))).rejects.toThrow(/rename some/)
  })
})
