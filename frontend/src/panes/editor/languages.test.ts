import { describe, expect, it } from 'vitest'
import { extensionOf, languageFor, languageForShebang } from './languages'

describe('languages', () => {
  it('choose by name and extension', () => {
    expect(languageFor('fit.py')?.label).toBe('Python')
    expect(languageFor('kernel.cu')?.label).toBe('C/C++')
    expect(languageFor('job.slurm')?.label).toBe('Shell')
    expect(languageFor('CMakeLists.txt')?.label).toBe('CMake')
    expect(languageFor('notes.txt')).toBeNull()
    expect(extensionOf('.bashrc')).toBe('')
    expect(languageFor('.bashrc')?.label).toBe('Shell')
  })

  it('read a script’s #! line', () => {
    expect(languageForShebang('#!/usr/bin/env python3')?.label).toBe('Python')
    expect(languageForShebang('#!/bin/bash')?.label).toBe('Shell')
    expect(languageForShebang('import os')).toBeNull()
  })

  it('load their grammar', async () => {
    await expect(languageFor('a.py')?.load()).resolves.toBeTruthy()
    await expect(languageFor('a.sh')?.load()).resolves.toBeTruthy()
  })
})
