import { describe, expect, it } from 'vitest'
import { SERVER_VIEWERS } from '../../testing/viewers'
import { chooseViewer, componentNameOf, extensionOf, looksBinary, openingViewer, tableFor, viewerTable, type ViewerRule } from './viewerChoice'

const BUILT_IN = viewerTable(SERVER_VIEWERS)

describe('chooseViewer', () => {
  it('picks a viewer by extension, case ignored', () => {
    const cases: [string, string][] = [
      ['plot.PNG', 'image'],
      ['logo.svg', 'image'],
      ['photo.jpeg', 'image'],
      ['paper.pdf', 'pdf'],
      ['run.log', 'text'],
      ['job.out', 'text'],
      ['job.err', 'text'],
      ['notes.txt', 'text'],
      ['data.csv', 'table'],
      ['data.tsv', 'table'],
      ['config.json', 'json'],
      ['README.md', 'markdown'],
      ['report.html', 'html'],
      ['archive.tar.gz', 'binary'],
      ['weights.h5', 'binary'],
      ['LICENSE', 'sniff'],
      ['data.xyz', 'sniff'],
    ]
    for (const [name, viewer] of cases) expect(chooseViewer(name, true, BUILT_IN), name).toEqual({ kind: 'viewer', viewer })
  })
  it('sends code and configuration to the editor', () => {
    for (const name of ['analysis.py', 'main.c', 'job.sbatch', 'config.yaml', 'settings.toml', 'Makefile', 'app.ts']) {
      expect(chooseViewer(name, true, BUILT_IN), name).toEqual({ kind: 'editor' })
    }
  })
  it('uses the text viewer for code while there is no editor', () => {
    expect(chooseViewer('analysis.py', false, BUILT_IN)).toEqual({ kind: 'viewer', viewer: 'text' })
    expect(chooseViewer('data.csv', false, BUILT_IN)).toEqual({ kind: 'viewer', viewer: 'table' })
  })
  it('has no extension for dot files', () => {
    expect(extensionOf('.bashrc')).toBe('')
    expect(extensionOf('a.B')).toBe('b')
  })
})

const sample: ViewerRule & { component: string } = { id: 'sample.lgsample', component: 'SampleViewer', extensions: ['lgsample'], names: [], priority: 0 }
const everyComponent = (): boolean => true

describe('the server\'s viewer table', () => {
  it('opens what a plug-in\'s viewer claims with that viewer', () => {
    const table = viewerTable([...SERVER_VIEWERS, sample])
    expect(chooseViewer('run.LGSAMPLE', true, table)).toEqual({ kind: 'viewer', viewer: 'sample.lgsample' })
    expect(chooseViewer('plot.png', true, table)).toEqual({ kind: 'viewer', viewer: 'image' })
    // Without the plug-in, the same file is looked at.
    expect(chooseViewer('run.lgsample', true, viewerTable(SERVER_VIEWERS))).toEqual({ kind: 'viewer', viewer: 'sniff' })
  })
  it('lets the highest priority win, and the first listed among equals', () => {
    const csv = { id: 'plot.csv', extensions: ['csv'], names: [], priority: 10 }
    expect(chooseViewer('a.csv', true, viewerTable([...SERVER_VIEWERS, csv]))).toEqual({ kind: 'viewer', viewer: 'plot.csv' })
    expect(chooseViewer('a.csv', true, viewerTable([csv, ...SERVER_VIEWERS]))).toEqual({ kind: 'viewer', viewer: 'plot.csv' })
    const equal = { ...csv, priority: 0 }
    expect(chooseViewer('a.csv', true, viewerTable([...SERVER_VIEWERS, equal]))).toEqual({ kind: 'viewer', viewer: 'table' })
  })
  it('puts a viewer\'s claim before the editor and binary rules; names before extensions', () => {
    const hdf5 = { id: 'hdf5', extensions: ['h5', 'HDF5'], names: [], priority: 0 }
    const makefile = { id: 'make', extensions: [], names: ['Makefile'], priority: 0 }
    const notebook = { id: 'nb', extensions: [], names: ['notes.txt'], priority: 0 }
    const table = viewerTable([...SERVER_VIEWERS, hdf5, makefile, notebook])
    expect(chooseViewer('data.hdf5', true, table)).toEqual({ kind: 'viewer', viewer: 'hdf5' })
    expect(chooseViewer('makefile', true, table)).toEqual({ kind: 'viewer', viewer: 'make' })
    expect(chooseViewer('notes.txt', true, table)).toEqual({ kind: 'viewer', viewer: 'nb' })
    expect(chooseViewer('other.txt', true, table)).toEqual({ kind: 'viewer', viewer: 'text' })
    expect(chooseViewer('data.npy', true, table)).toEqual({ kind: 'viewer', viewer: 'binary' })
    expect(chooseViewer('main.py', true, table)).toEqual({ kind: 'editor' })
  })
  it('has only the server\'s claims: none before it answers', () => {
    expect(chooseViewer('a.pdf', true, tableFor(SERVER_VIEWERS, everyComponent))).toEqual({ kind: 'viewer', viewer: 'pdf' })
    expect(chooseViewer('a.pdf', true, tableFor(undefined, everyComponent))).toEqual({ kind: 'viewer', viewer: 'sniff' })
    expect(chooseViewer('a.pdf', true, tableFor([sample], everyComponent))).toEqual({ kind: 'viewer', viewer: 'sniff' })
    expect(chooseViewer('main.py', true, tableFor(undefined, everyComponent))).toEqual({ kind: 'editor' })
  })
  it('leaves out a viewer whose component is not registered (its bundle failed): the rules below it decide', () => {
    const plot = { id: 'plot.csv', component: 'PlotViewer', extensions: ['csv'], names: ['Makefile'], priority: 10 }
    const registered = (component: string): boolean => component !== 'PlotViewer' && component !== 'SampleViewer'
    const table = tableFor([...SERVER_VIEWERS, plot, sample], registered)
    expect(chooseViewer('a.csv', true, table)).toEqual({ kind: 'viewer', viewer: 'table' })
    expect(chooseViewer('Makefile', true, table)).toEqual({ kind: 'editor' })
    expect(chooseViewer('run.lgsample', true, table)).toEqual({ kind: 'viewer', viewer: 'sniff' })
    expect(chooseViewer('a.csv', true, tableFor([...SERVER_VIEWERS, plot], everyComponent))).toEqual({ kind: 'viewer', viewer: 'plot.csv' })
  })
  it('opens a saved pane whose viewer is gone by looking at the file, not as binary', () => {
    const registered = (id: string): boolean => id === 'image'
    expect(openingViewer('image', registered)).toBe('image')
    expect(openingViewer('sample.lgsample', registered)).toBe('sniff')
    expect(openingViewer('binary', registered)).toBe('binary')
    expect(openingViewer('sniff', registered)).toBe('sniff')
  })
  it('names the component the server gives a viewer', () => {
    const viewers = [{ id: 'lgsample', component: 'SampleViewer' }]
    expect(componentNameOf('lgsample', viewers)).toBe('SampleViewer')
    expect(componentNameOf('image', viewers)).toBeUndefined()
    expect(componentNameOf('image', SERVER_VIEWERS)).toBe('ImageViewer')
    expect(componentNameOf('image', undefined)).toBeUndefined()
  })
})

describe('looksBinary', () => {
  it('is true when the first KiB holds a NUL', () => {
    expect(looksBinary(new TextEncoder().encode('plain text\n'))).toBe(false)
    expect(looksBinary(new Uint8Array([0x89, 0x50, 0x00, 0x47]))).toBe(true)
    const late = new Uint8Array(2048).fill(0x41)
    late[1500] = 0
    expect(looksBinary(late)).toBe(false)
    expect(looksBinary(new Uint8Array())).toBe(false)
  })
})
