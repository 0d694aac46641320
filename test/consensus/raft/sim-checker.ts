/**
 * The safety invariants the simulator checks after every step, incrementally (each check looks
 * only at what just changed, so checking costs about as much as the step itself):
 *  - election safety: at most one leader per term;
 *  - log matching: an (index, term) pair names one entry, always preceded by the same term, so
 *    two logs that share an (index, term) agree on everything before it;
 *  - leader completeness: a new leader's log holds every entry applied anywhere from earlier terms;
 *  - state machine safety: every node applies the same entry at each index, and a snapshot
 *    carries the same state as applying the log up to its index.
 */
import type { Entry, NodeId, Snapshot } from '../../../src/consensus/raft/index.ts'

export class InvariantViolation extends Error {
  constructor (message: string) {
    super(message)
    this.name = 'InvariantViolation'
  }
}

function sameBytes (a: Uint8Array, b: Uint8Array): boolean {
  if (a === b) return true
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

/** the state machine of the simulation: how far it applied and a hash chain over the data */
export interface SimStateMachine {
  index: number
  hash: number
}

export function applyToHash (hash: number, e: Entry): number {
  let h = (hash ^ e.index) >>> 0
  const d = e.data
  for (let i = 0; i < d.length; i++) h = Math.imul(h ^ d[i], 16777619) >>> 0
  return Math.imul(h ^ e.type, 16777619) >>> 0
}

export function encodeStateMachine (sm: SimStateMachine): Uint8Array {
  const out = new Uint8Array(12)
  const dv = new DataView(out.buffer)
  dv.setFloat64(0, sm.index)
  dv.setUint32(8, sm.hash)
  return out
}

export function decodeStateMachine (s: Snapshot): SimStateMachine {
  if (s.data.length === 0) return { index: s.metadata.index, hash: 0 }
  const dv = new DataView(s.data.buffer, s.data.byteOffset, s.data.byteLength)
  return { index: dv.getFloat64(0), hash: dv.getUint32(8) }
}

const TERM_SPAN = 2 ** 21

export class SafetyChecker {
  private leaders = new Map<number, NodeId>()
  /** (index, term) -> the term before it and the entry's data */
  private logEntries = new Map<number, { prevTerm: number, data: Uint8Array }>()
  /** per index: the term, data and resulting state hash of the entry applied there */
  private appliedTerm: number[] = []
  private appliedData: Uint8Array[] = []
  private appliedHash: number[] = []
  /** highest index applied by any node */
  maxApplied = 0
  leadersElected = 0

  constructor (bootstrapIndex: number, bootstrapTerm: number) {
    this.maxApplied = bootstrapIndex
    this.appliedTerm[bootstrapIndex] = bootstrapTerm
    this.appliedHash[bootstrapIndex] = 0
  }

  /** node `id` is leader of `term`; `termAt` reads its log. Returns true the first time. */
  checkLeader (id: NodeId, term: number, termAt: (i: number) => number, firstIndex: number, lastIndex: number): boolean {
    const known = this.leaders.get(term)
    if (known === id) return false
    if (known !== undefined) throw new InvariantViolation(`two leaders in term ${term}: ${known} and ${id}`)
    this.leaders.set(term, id)
    this.leadersElected++
    // leader completeness: the last applied index whose entry is from an earlier term
    let lo = 0
    let hi = this.maxApplied
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1
      const t = this.appliedTerm[mid]
      if (t !== undefined && t >= term) hi = mid - 1
      else lo = mid
    }
    const i = lo
    const want = this.appliedTerm[i]
    if (want === undefined || want >= term || i < firstIndex - 1) return true
    if (i > lastIndex) throw new InvariantViolation(`leader ${id} of term ${term} lacks committed entry ${i} (its last index is ${lastIndex})`)
    const have = termAt(i)
    if (have !== want) throw new InvariantViolation(`leader ${id} of term ${term} has term ${have} at committed index ${i}, expected ${want}`)
    return true
  }

  /** entry e was persisted in a log where the entry before it has prevTerm */
  checkAppended (e: Entry, prevTerm: number): void {
    const key = e.index * TERM_SPAN + e.term
    const rec = this.logEntries.get(key)
    if (rec === undefined) {
      this.logEntries.set(key, { prevTerm, data: e.data })
      return
    }
    if (rec.prevTerm !== prevTerm) throw new InvariantViolation(`log matching: entry ${e.term}/${e.index} follows term ${prevTerm} here but ${rec.prevTerm} elsewhere`)
    if (!sameBytes(rec.data, e.data)) throw new InvariantViolation(`log matching: two different entries at ${e.term}/${e.index}`)
  }

  /** node applied e on top of sm; returns the new state */
  checkApplied (id: NodeId, sm: SimStateMachine, e: Entry): SimStateMachine {
    if (e.index !== sm.index + 1) throw new InvariantViolation(`${id} applied index ${e.index} after ${sm.index}`)
    const hash = applyToHash(sm.hash, e)
    const t = this.appliedTerm[e.index]
    if (t === undefined) {
      if (this.appliedHash[e.index - 1] !== undefined && this.appliedHash[e.index - 1] !== sm.hash) {
        throw new InvariantViolation(`${id} state before index ${e.index} differs from the other nodes'`)
      }
      this.appliedTerm[e.index] = e.term
      this.appliedData[e.index] = e.data
      this.appliedHash[e.index] = hash
      if (e.index > this.maxApplied) this.maxApplied = e.index
    } else {
      if (t !== e.term || !sameBytes(this.appliedData[e.index], e.data)) {
        throw new InvariantViolation(`${id} applied ${e.term}/${e.index} but another node applied term ${t} there`)
      }
      if (this.appliedHash[e.index] !== hash) throw new InvariantViolation(`${id} state after index ${e.index} differs from the other nodes'`)
    }
    return { index: e.index, hash }
  }

  /** a node installed a snapshot: its state must match the applied history at that index */
  checkSnapshot (id: NodeId, s: Snapshot): SimStateMachine {
    const sm = decodeStateMachine(s)
    const { index, term } = s.metadata
    if (sm.index !== index) throw new InvariantViolation(`${id} snapshot at ${index} holds state of index ${sm.index}`)
    const t = this.appliedTerm[index]
    if (t !== undefined && t !== term) throw new InvariantViolation(`${id} snapshot ${term}/${index} but term ${t} was applied there`)
    const h = this.appliedHash[index]
    if (h !== undefined && h !== sm.hash) throw new InvariantViolation(`${id} snapshot at ${index} holds a different state`)
    return sm
  }
}
