import { describe, expect, it } from 'vitest'
import { askToEdit, resourceToEdit, takeEditRequest } from './editRequest'

describe('a request to edit a resource from outside the Resources pane', () => {
  it('is answered once', () => {
    expect(takeEditRequest()).toBeNull()
    askToEdit(7)
    expect(resourceToEdit.value).toBe(7)
    expect(takeEditRequest()).toBe(7)
    expect(takeEditRequest()).toBeNull()
  })
})
