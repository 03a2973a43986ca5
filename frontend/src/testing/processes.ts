/** Test data for processes and terminals. */
import type { ProcessInfo } from '../api/processes'

/** A running login shell as the server lists it; `overrides` replace fields. */
export function makeProcess(overrides: Partial<ProcessInfo> = {}): ProcessInfo {
  return {
    id: 'p1',
    pid: 100,
    name: 'bash',
    command: '/bin/bash',
    pty: true,
    started_at: 1_795_326_323,
    running: true,
    exit_status: null,
    signal: null,
    output_start: 0,
    output_end: 0,
    cols: 80,
    rows: 24,
    ...overrides,
  }
}
