/**
 * Replaying write-ahead log changes into a log state, and tracking for each segment the highest
 * entry index still live in it (what decides when a whole segment can be released).
 */
import type { Entry, HardState } from '../raft/types.ts'
import type { LogChange } from '../log-plan.ts'

export interface SegmentInfo {
  seq: number
  path: string
  /** highest entry index written to this segment that no later write replaced (0: none) */
  maxIndex: number
}

/** the log as the records so far describe it */
export class ReplayState {
  hardState: HardState = { term: 0, vote: '', commit: 0 }
  /** the compaction point: the dummy entry before the first kept one */
  compactIndex = 0
  compactTerm = 0
  /** the latest snapshot the records say was saved or installed */
  snapIndex = 0
  snapTerm = 0
  /** entries after `base` in order (ents[k].index === base + 1 + k) */
  base = 0
  ents: Entry[] = []
  /** a change that makes no sense here, e.g. entries leaving a gap */
  problem: string | undefined

  apply (c: LogChange): void {
    switch (c.kind) {
      case 'hardState':
        this.hardState = c.hardState
        break
      case 'savedSnapshot':
        this.snapIndex = c.index
        this.snapTerm = c.term
        break
      case 'snapshot':
        this.snapIndex = c.index
        this.snapTerm = c.term
        this.compactIndex = c.index
        this.compactTerm = c.term
        this.base = c.index
        this.ents = []
        break
      case 'compact':
        this.compactIndex = c.index
        this.compactTerm = c.term
        if (c.index >= this.base + this.ents.length) {
          this.ents = []
          this.base = c.index
        } else if (c.index > this.base) {
          this.ents = this.ents.slice(c.index - this.base)
          this.base = c.index
        }
        break
      case 'entries': {
        const k = c.entries[0].index
        if (this.ents.length === 0 || k <= this.base + 1) {
          // the first entries after released segments, or a rewrite of all kept ones
          this.base = k - 1
          this.ents = [...c.entries]
        } else if (k > this.base + this.ents.length + 1) {
          this.problem ??= `gap before entry ${k} (last ${this.base + this.ents.length})`
        } else {
          this.ents.length = k - this.base - 1
          for (const e of c.entries) this.ents.push(e)
        }
        break
      }
    }
  }
}

/** updates the segments' live maximum indexes for a change written to the last one */
export function trackSegments (segments: SegmentInfo[], c: LogChange): void {
  const current = segments[segments.length - 1]
  if (c.kind === 'snapshot') {
    for (const s of segments) s.maxIndex = 0
  } else if (c.kind === 'entries') {
    const first = c.entries[0].index
    for (const s of segments) if (s !== current && s.maxIndex >= first) s.maxIndex = first - 1
    current.maxIndex = c.entries[c.entries.length - 1].index
  }
}
