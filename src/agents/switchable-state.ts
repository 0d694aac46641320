/**
 * The handles a turn writes agent state through: a key-value map under the owner's epoch whose
 * backing doc compaction can swap (SwitchableState), and the settle marks that let a released turn
 * collapse what it made unreadable for good (markForSettle).
 */
import type { AgentState } from './types.ts'

/**
 * an agent state map whose writes carry the owner's placement epoch; YKeyValue also collapses
 * (deletes in place) what a settled turn made unreadable for good
 */
export type EpochState = AgentState & {
  writerEpoch: number | undefined
  stateVector?: () => Map<number, number>
  collapse?: (settled: Map<number, number>) => number
}

/**
 * An AgentState whose backing map can be swapped (compaction moves it to a new generation). While
 * `journal` is set, writes are also recorded, to be replayed onto the next map.
 */
export class SwitchableState implements AgentState {
  journal: Array<[string, unknown]> | undefined
  constructor (public target: AgentState) {}
  get (key: string): any { return this.target.get(key) } // eslint-disable-line @typescript-eslint/no-explicit-any
  set (key: string, value: unknown): void {
    this.target.set(key, value)
    this.journal?.push([key, value])
  }

  delete (key: string): void {
    this.target.delete(key)
    this.journal?.push([key, undefined])
  }

  has (key: string): boolean { return this.target.has(key) }
  entries (): IterableIterator<[string, unknown]> { return this.target.entries() }
  toJSON (): Record<string, unknown> { return this.target.toJSON() }

  /**
   * what the map's doc holds now; pass it to `settle` once a turn that began after it was
   * committed under a lease held throughout (undefined: the map cannot collapse)
   */
  mark (): SettleMark | undefined {
    const vector = (this.target as Partial<EpochState>).stateVector?.()
    return vector == null ? undefined : { target: this.target, vector }
  }

  /**
   * everything within `mark` is in every later owner's view (the turn fence released a turn
   * committed after it): entries it made unreadable for good are deleted in place. Nothing when
   * compaction moved the map meanwhile (the copy left them behind anyway)
   */
  settle (mark: SettleMark | undefined): void {
    if (mark == null || mark.target !== this.target) return
    (this.target as Partial<EpochState>).collapse?.(mark.vector)
  }
}

export interface SettleMark {
  target: AgentState
  vector: Map<number, number>
}

/**
 * before a turn's commit: marks for the given states; the function returned settles them, to be
 * called once the turn fence released that turn (a lease held throughout, or the placement read
 * back here), never otherwise: a deposed owner's deletions could remove what the next owner reads
 */
export function markForSettle (states: Array<AgentState | undefined>): () => void {
  const marks: Array<[SwitchableState, SettleMark]> = []
  for (const s of states) {
    if (!(s instanceof SwitchableState)) continue
    const mark = s.mark()
    if (mark != null) marks.push([s, mark])
  }
  return () => { for (const [s, mark] of marks) s.settle(mark) }
}
