/**
 * Replicated reply records: the reply of a turn, kept in the agent's replicated state doc (its own
 * map, `replies`) beside the state changes the turn made, so both reach the write concern in the
 * same flush. A retried delivery of the same message id (a durable send redelivered by the outbox,
 * or a request the client repeats with the same `messageId`) that reaches a new owner after a
 * failover gets the recorded reply instead of being applied a second time.
 *
 * Bounded: replies above REPLY_RECORD_MAX_BYTES are not recorded (such a retry runs again), and
 * records older than the dedup window or beyond REPLY_RECORDS_MAX are pruned, oldest first.
 */
import type { Clock } from '../util/clock.ts'
import { DEDUP_WINDOW_MS, REPLY_RECORD_MAX_BYTES, REPLY_RECORDS_MAX } from './constants.ts'
import type { AgentState, JsonValue } from './types.ts'

interface ReplyRecord { r: JsonValue, at: number }

function isRecord (x: unknown): x is ReplyRecord {
  return x !== null && typeof x === 'object' && 'r' in x && typeof (x as { at?: unknown }).at === 'number'
}

export class ReplyRecords {
  private readonly map: AgentState
  private readonly clock: Clock
  private readonly windowMs: number
  private readonly max: number
  private count: number

  constructor (map: AgentState, clock: Clock, options: { windowMs?: number, max?: number } = {}) {
    this.map = map
    this.clock = clock
    this.windowMs = options.windowMs ?? DEDUP_WINDOW_MS
    this.max = options.max ?? REPLY_RECORDS_MAX
    this.count = [...map.entries()].length
  }

  /** the map the records are kept in */
  get state (): AgentState {
    return this.map
  }

  /** the recorded reply of `id` within the window; undefined when there is none */
  get (id: string): { reply: JsonValue } | undefined {
    const rec: unknown = this.map.get(id)
    if (!isRecord(rec) || this.clock.now() - rec.at > this.windowMs) return undefined
    return { reply: rec.r }
  }

  /** records `reply` for `id` (before the turn's commit); false when it is too large to keep */
  record (id: string, reply: JsonValue): boolean {
    const size = JSON.stringify(reply ?? null).length
    if (size > REPLY_RECORD_MAX_BYTES) return false
    if (!this.map.has(id)) this.count++
    this.map.set(id, { r: reply ?? null, at: this.clock.now() })
    if (this.count > this.max) this.prune()
    return true
  }

  /** drops expired records, then the oldest until a quarter of the room is free again */
  private prune (): void {
    const now = this.clock.now()
    const all = [...this.map.entries()].map(([id, v]) => ({ id, at: isRecord(v) ? v.at : 0 })).sort((a, b) => a.at - b.at)
    const keep = Math.floor(this.max * 3 / 4)
    let n = all.length
    for (const e of all) {
      if (n <= keep && now - e.at <= this.windowMs) break
      this.map.delete(e.id)
      n--
    }
    this.count = n
  }
}

/** the records of `map` made within `windowMs` of `now` (what a compacted state generation keeps) */
export function * liveReplyRecords (map: AgentState, now: number, windowMs: number): IterableIterator<[string, ReplyRecord]> {
  for (const [id, v] of map.entries()) if (isRecord(v) && now - v.at <= windowMs) yield [id, v]
}
