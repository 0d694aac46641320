/**
 * The mailbox's dedup memory: message id -> the outcome of its (first) handling. Pending ids are
 * bounded by the mailbox's capacity; settled ones by `maxEntries` and by age (`windowMs`).
 */
import type { Clock } from '../util/clock.ts'
import type { JsonValue } from './types.ts'

interface Remembered {
  promise: Promise<JsonValue>
  /** clock time when settled; undefined while pending */
  settledAt?: number
}

export class ReplyCache {
  private readonly entries = new Map<string, Remembered>()
  /** settled ids, oldest first */
  private readonly settledOrder: string[] = []

  constructor (private readonly clock: Clock, private readonly windowMs: number, private readonly maxEntries: number) {}

  /** the outcome of a known id (pending or settled within the window) */
  get (id: string): Promise<JsonValue> | undefined {
    this.expire()
    return this.entries.get(id)?.promise
  }

  /** remembers a newly queued message's outcome */
  add (id: string, promise: Promise<JsonValue>): void {
    this.entries.set(id, { promise })
  }

  /** the id's outcome is final: it now ages out of the window */
  settled (id: string): void {
    const r = this.entries.get(id)
    if (r == null) return
    r.settledAt = this.clock.now()
    this.settledOrder.push(id)
    while (this.settledOrder.length > this.maxEntries) this.forgetOldest()
  }

  /** forgets an id that was not handled here (handed over on migration) */
  delete (id: string): void {
    this.entries.delete(id)
  }

  private forgetOldest (): void {
    const id = this.settledOrder.shift()
    if (id == null) return
    if (this.entries.get(id)?.settledAt != null) this.entries.delete(id)
  }

  private expire (): void {
    const cutoff = this.clock.now() - this.windowMs
    while (this.settledOrder.length > 0) {
      const r = this.entries.get(this.settledOrder[0])
      if (r?.settledAt != null && r.settledAt >= cutoff) break
      this.forgetOldest()
    }
  }
}
