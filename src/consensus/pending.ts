/**
 * What the driver's callers wait for: proposals (by request id, settled when their entry is
 * applied on this peer, re-submitted with the same id until then) and linearizable reads (batched:
 * every reader that arrives while a ReadIndex round is out joins the next one, so one round serves
 * them all).
 */
import { CapacityError } from '../errors.ts'
import { MAX_PENDING_PROPOSALS, MAX_PENDING_READS, PROPOSAL_RETRY_MS, READ_INDEX_RETRY_MS } from './constants.ts'
import type { KvResult } from './kv/index.ts'

/** a caller's deadline: when (monotonic ms) and the timeout it came from, for the error */
export interface Deadline {
  at: number
  ms: number
}

export interface ProposalWaiter {
  requestId: string
  data: Uint8Array
  resolve: (r: KvResult) => void
  reject: (e: Error) => void
  /** monotonic time of the last submission (0: not submitted yet) */
  submittedAt: number
  /** the leader the last submission went to */
  submittedTo: string
  /** monotonic time the caller asked */
  startedAt: number
  /** the caller stops waiting then (TimeoutError); the entry may still commit */
  deadline?: Deadline
}

export class PendingProposals {
  private readonly map = new Map<string, ProposalWaiter>()

  get size (): number { return this.map.size }

  add (w: ProposalWaiter): void {
    if (this.map.has(w.requestId)) throw new CapacityError(`request ${w.requestId} is already waiting`)
    if (this.map.size >= MAX_PENDING_PROPOSALS) throw new CapacityError(`at most ${MAX_PENDING_PROPOSALS} proposals may wait at once`)
    this.map.set(w.requestId, w)
  }

  get (requestId: string): ProposalWaiter | undefined {
    return this.map.get(requestId)
  }

  delete (requestId: string): void {
    this.map.delete(requestId)
  }

  values (): ProposalWaiter[] {
    return [...this.map.values()]
  }

  /** the waiter of an applied entry, removed; undefined when nobody here waits for it */
  take (requestId: string): ProposalWaiter | undefined {
    const w = this.map.get(requestId)
    if (w !== undefined) this.map.delete(requestId)
    return w
  }

  /** proposals to submit (again): never submitted, sent to another leader, or unanswered too long */
  due (now: number, leader: string): ProposalWaiter[] {
    const out: ProposalWaiter[] = []
    for (const w of this.map.values()) {
      if (w.submittedAt === 0 || w.submittedTo !== leader || now - w.submittedAt >= PROPOSAL_RETRY_MS) out.push(w)
    }
    return out
  }

  rejectAll (err: Error): void {
    const all = [...this.map.values()]
    this.map.clear()
    for (const w of all) w.reject(err)
  }

  /** the waiters whose deadline has passed, removed */
  expire (now: number): ProposalWaiter[] {
    const out: ProposalWaiter[] = []
    for (const w of this.map.values()) {
      if (w.deadline !== undefined && w.deadline.at <= now) out.push(w)
    }
    for (const w of out) this.map.delete(w.requestId)
    return out
  }
}

export interface ReadWaiter {
  resolve: () => void
  reject: (e: Error) => void
  deadline?: Deadline
}

interface ReadBatch {
  ctx: Uint8Array
  waiters: ReadWaiter[]
  issuedAt: number
  issuedTo: string
  /** the read index, once the leader confirmed it */
  index: number
}

export class ReadQueue {
  private next: ReadWaiter[] = []
  private inflight: ReadBatch | undefined
  /** batches with a read index, waiting for the applied index to reach it */
  private ready: ReadBatch[] = []
  private seq = 0
  private readonly nonce: number
  private count = 0

  constructor (nonce: number) {
    this.nonce = nonce >>> 0
  }

  get size (): number { return this.count }

  add (w: ReadWaiter): void {
    if (this.count >= MAX_PENDING_READS) throw new CapacityError(`at most ${MAX_PENDING_READS} reads may wait at once`)
    this.next.push(w)
    this.count++
  }

  remove (w: ReadWaiter): void {
    const drop = (list: ReadWaiter[]): boolean => {
      const i = list.indexOf(w)
      if (i < 0) return false
      list.splice(i, 1)
      this.count--
      return true
    }
    if (drop(this.next)) return
    if (this.inflight !== undefined && drop(this.inflight.waiters)) return
    for (const b of this.ready) if (drop(b.waiters)) return
  }

  /**
   * the context of a ReadIndex round to issue now, or undefined: a round is out and still fresh,
   * or nobody waits. A stale round (too old, or sent while another peer led) is replaced: its
   * readers join the new one, whose context is new (a late answer to the old one is ignored).
   */
  toIssue (now: number, leader: string): Uint8Array | undefined {
    const cur = this.inflight
    if (cur !== undefined) {
      if (now - cur.issuedAt < READ_INDEX_RETRY_MS && cur.issuedTo === leader) return undefined
      this.next = [...cur.waiters, ...this.next]
      this.inflight = undefined
    }
    if (this.next.length === 0) return undefined
    const ctx = new Uint8Array(8)
    const view = new DataView(ctx.buffer)
    view.setUint32(0, this.nonce)
    view.setUint32(4, ++this.seq)
    this.inflight = { ctx, waiters: this.next, issuedAt: now, issuedTo: leader, index: 0 }
    this.next = []
    return ctx
  }

  /** the round could not be issued (no leader): its readers wait for the next attempt */
  unissue (): void {
    if (this.inflight === undefined) return
    this.next = [...this.inflight.waiters, ...this.next]
    this.inflight = undefined
  }

  /** a ReadState arrived; true if it answered the round that is out */
  answered (ctx: Uint8Array, index: number): boolean {
    const cur = this.inflight
    if (cur === undefined || !sameBytes(cur.ctx, ctx)) return false
    cur.index = index
    this.ready.push(cur)
    this.inflight = undefined
    return true
  }

  /** resolves every reader whose read index has been applied */
  release (applied: number): void {
    if (this.ready.length === 0) return
    const keep: ReadBatch[] = []
    for (const b of this.ready) {
      if (b.index <= applied) {
        this.count -= b.waiters.length
        for (const w of b.waiters) w.resolve()
      } else {
        keep.push(b)
      }
    }
    this.ready = keep
  }

  rejectAll (err: Error): void {
    const all = [...this.next, ...(this.inflight?.waiters ?? []), ...this.ready.flatMap(b => b.waiters)]
    this.next = []
    this.inflight = undefined
    this.ready = []
    this.count = 0
    for (const w of all) w.reject(err)
  }

  /** the readers whose deadline has passed, removed (from whichever stage they wait in) */
  expire (now: number): ReadWaiter[] {
    if (this.count === 0) return []
    const out: ReadWaiter[] = []
    const keep = (list: ReadWaiter[]): ReadWaiter[] => {
      if (!list.some(w => w.deadline !== undefined && w.deadline.at <= now)) return list
      return list.filter(w => {
        if (w.deadline === undefined || w.deadline.at > now) return true
        out.push(w)
        return false
      })
    }
    this.next = keep(this.next)
    if (this.inflight !== undefined) this.inflight.waiters = keep(this.inflight.waiters)
    for (const b of this.ready) b.waiters = keep(b.waiters)
    this.count -= out.length
    return out
  }

  /** rejects the readers not yet given a read index (they depend on a leader); ready ones stay */
  rejectUnanswered (err: Error): void {
    const all = [...this.next, ...(this.inflight?.waiters ?? [])]
    this.next = []
    this.inflight = undefined
    this.count -= all.length
    for (const w of all) w.reject(err)
  }
}

function sameBytes (a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false
  return true
}
