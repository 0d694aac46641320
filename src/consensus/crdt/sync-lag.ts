/**
 * Sync lag in seconds for one document, on this peer's own clock: from the moment a peer showed
 * (in a STATE message) updates this doc lacks, or an applied update was left waiting for ones it
 * depends on, until the doc holds everything it was shown. Zero while nothing known is missing.
 * No clocks are compared across peers, so a skewed peer cannot fake or hide lag.
 */
import * as Y from 'yjs'
import type { StateVector } from './vectors.ts'

export class SyncLagTracker {
  /** clock -> when the doc first lacked something, since it last held everything it was shown */
  private behindSince: number | undefined
  /** per client, the highest clock a peer showed that the doc lacked */
  private readonly wanted = new Map<number, number>()

  /** a peer's state vector: remembers what the doc lacks of it; true when it lacks anything */
  observeRemote (doc: Y.Doc, remote: StateVector, now: number): boolean {
    let lacking = false
    for (const [client, clock] of remote) {
      if (clock <= Y.getState(doc.store, client)) continue
      lacking = true
      if (clock > (this.wanted.get(client) ?? 0)) this.wanted.set(client, clock)
    }
    if (lacking) this.behindSince ??= now
    return lacking
  }

  /** after the doc changed: clears the lag once every wanted update arrived and none waits */
  update (doc: Y.Doc, now: number): void {
    const store = doc.store
    if (store.pendingStructs != null || store.pendingDs != null) {
      this.behindSince ??= now
      return
    }
    if (this.behindSince == null) return
    for (const [client, clock] of this.wanted) {
      if (Y.getState(store, client) < clock) return
    }
    this.wanted.clear()
    this.behindSince = undefined
  }

  /** seconds since the doc started lacking what it was shown (0 when it lacks nothing known) */
  seconds (now: number): number {
    return this.behindSince == null ? 0 : Math.max(0, now - this.behindSince) / 1000
  }
}
