import { afterEach, describe, expect, it } from 'vitest'
import { defineComponent, h, isReactive } from 'vue'
import { clearViewerRegistry, getViewer, listViewers, registerViewer } from './registry'

const One = defineComponent({ render: () => h('div') })
const Two = defineComponent({ render: () => h('span') })

afterEach(() => clearViewerRegistry())

describe('viewer registry', () => {
  it('finds a component by name, and knows no other', () => {
    registerViewer('SampleViewer', One)
    expect(getViewer('SampleViewer')).toBe(One)
    expect(getViewer('sampleviewer')).toBeUndefined()
    expect(isReactive(getViewer('SampleViewer'))).toBe(false)
  })
  it('refuses a name twice, keeping the first', () => {
    registerViewer('image', One)
    expect(() => registerViewer('image', Two)).toThrow(/already registered/)
    expect(getViewer('image')).toBe(One)
    expect(listViewers()).toEqual(['image'])
  })
  it.each(['', '1st', 'has space', 'a/b'])('refuses the name %j', (name) => {
    expect(() => registerViewer(name, One)).toThrow(/must match/)
  })
})
