/**
 * The leader's view of one follower: how far its log matches, what to send next, and how much is
 * in flight (etcd-io/raft tracker.Progress and Inflights).
 */

export const enum ProgressState {
  /** one append in flight at a time, walking back until the logs match */
  Probe = 0,
  /** optimistic pipelining of appends, bounded by the inflight window */
  Replicate = 1,
  /** a snapshot is being sent; appends pause until it is reported */
  Snapshot = 2
}

export const PROGRESS_STATE_NAMES = ['StateProbe', 'StateReplicate', 'StateSnapshot'] as const

/** a bounded ring of the last indexes of in-flight append messages */
export class Inflights {
  private start = 0
  count = 0
  readonly size: number
  private readonly buffer: number[]

  constructor (size: number) {
    this.size = size
    this.buffer = new Array<number>(size).fill(0)
  }

  add (lastIndex: number): void {
    if (this.full()) throw new Error('cannot add into a full inflights')
    let next = this.start + this.count
    if (next >= this.size) next -= this.size
    this.buffer[next] = lastIndex
    this.count++
  }

  /** frees every in-flight message whose last index is <= to (acknowledged) */
  freeLE (to: number): void {
    if (this.count === 0 || to < this.buffer[this.start]) return
    let idx = this.start
    let i = 0
    for (; i < this.count; i++) {
      if (to < this.buffer[idx]) break
      if (++idx >= this.size) idx -= this.size
    }
    this.count -= i
    this.start = idx
    if (this.count === 0) this.start = 0
  }

  /** frees the oldest in-flight message */
  freeFirstOne (): void {
    if (this.count > 0) this.freeLE(this.buffer[this.start])
  }

  full (): boolean {
    return this.count === this.size
  }

  reset (): void {
    this.count = 0
    this.start = 0
  }
}

export class Progress {
  match = 0
  next: number
  state: ProgressState = ProgressState.Probe
  /** in Snapshot state: the index of the snapshot being sent */
  pendingSnapshot = 0
  /** heard from since the last check-quorum round */
  recentActive = false
  /** in Probe state: an append was sent and we wait for its answer (or a heartbeat) */
  probeSent = false
  readonly inflights: Inflights
  isLearner: boolean

  constructor (next: number, maxInflight: number, isLearner: boolean) {
    this.next = next
    this.inflights = new Inflights(maxInflight)
    this.isLearner = isLearner
  }

  private resetState (state: ProgressState): void {
    this.probeSent = false
    this.pendingSnapshot = 0
    this.state = state
    this.inflights.reset()
  }

  becomeProbe (): void {
    // after a snapshot, resume from what it covered (it was applied if we got here from a report)
    if (this.state === ProgressState.Snapshot) {
      const pending = this.pendingSnapshot
      this.resetState(ProgressState.Probe)
      this.next = Math.max(this.match + 1, pending + 1)
    } else {
      this.resetState(ProgressState.Probe)
      this.next = this.match + 1
    }
  }

  becomeReplicate (): void {
    this.resetState(ProgressState.Replicate)
    this.next = this.match + 1
  }

  becomeSnapshot (snapshotIndex: number): void {
    this.resetState(ProgressState.Snapshot)
    this.pendingSnapshot = snapshotIndex
  }

  /** records an acknowledgement up to n; false if it is stale */
  maybeUpdate (n: number): boolean {
    let updated = false
    if (this.match < n) {
      this.match = n
      updated = true
      this.probeSent = false
    }
    this.next = Math.max(this.next, n + 1)
    return updated
  }

  /** in Replicate state: entries up to n were sent, assume they will arrive */
  optimisticUpdate (n: number): void {
    this.next = n + 1
  }

  /**
   * handles a rejected append for index `rejected`; matchHint is the follower's guess where the
   * logs may agree. Returns false when the rejection is stale.
   */
  maybeDecrTo (rejected: number, matchHint: number): boolean {
    if (this.state === ProgressState.Replicate) {
      if (rejected <= this.match) return false
      this.next = this.match + 1
      return true
    }
    // probe: only the rejection of the last sent index counts
    if (this.next - 1 !== rejected) return false
    this.next = Math.max(Math.min(rejected, matchHint + 1), 1)
    this.probeSent = false
    return true
  }

  /** whether the leader must hold back appends to this peer */
  isPaused (): boolean {
    switch (this.state) {
      case ProgressState.Probe: return this.probeSent
      case ProgressState.Replicate: return this.inflights.full()
      default: return true
    }
  }

  toString (): string {
    let s = `${PROGRESS_STATE_NAMES[this.state]} match=${this.match} next=${this.next}`
    if (this.isLearner) s += ' learner'
    if (this.isPaused()) s += ' paused'
    if (this.pendingSnapshot > 0) s += ` pendingSnap=${this.pendingSnapshot}`
    if (!this.recentActive) s += ' inactive'
    if (this.inflights.count > 0) s += ` inflight=${this.inflights.count}`
    if (this.inflights.full()) s += '[full]'
    return s
  }
}
