/**
 * Replicated reply records: what a turn leaves behind so that a retried delivery of its message
 * that reaches a new owner after a failover is answered instead of applied a second time. Kept in
 * the agent's replicated state doc (its own map, `replies`) beside the state changes the turn
 * made, so both reach the write concern in the same flush. Two kinds:
 *
 * - **Sequence marks**, for durable sends (one-way messages from a sender's outbox). An outbox
 *   delivers one channel (sender to agent) one entry at a time, in sequence order: entry n + 1 goes
 *   out only once entry n was acknowledged (applied) or given up for good. So per sender one
 *   number says it all: every seq at or below the mark was applied here or will never be sent
 *   again, and a delivery at or below it is a duplicate. One small record per sender, however many
 *   turns pass, so such a retry is never applied twice however late it comes (within
 *   SEQ_MARK_RETENTION_MS of the sender's last applied message, for at most SEQ_MARKS_MAX senders).
 * - **Reply records**, for requests and messages carrying their own message id: the reply, by
 *   id. Bounded: replies above REPLY_RECORD_MAX_BYTES are not recorded (such a retry runs again),
 *   and records older than the dedup window or beyond REPLY_RECORDS_MAX are pruned, oldest first.
 */
import type { Clock } from '../util/clock.ts'
import { DEDUP_WINDOW_MS, REPLY_RECORD_MAX_BYTES, REPLY_RECORDS_MAX, SEQ_MARK_RETENTION_MS, SEQ_MARKS_MAX } from './constants.ts'
import { LOCAL_ID_PREFIX } from './mailbox.ts'
import type { MessageOrigin } from './mailbox.ts'
import type { AgentState, JsonValue } from './types.ts'

interface ReplyRecord { r: JsonValue, at: number }
interface SeqMark { s: number, at: number }

/**
 * a sender's mark is kept under a key no recorded message id can have: ids starting with
 * LOCAL_ID_PREFIX are the mailbox's own and never recorded
 */
const MARK_PREFIX = `${LOCAL_ID_PREFIX}seq:`
const markKey = (sender: string): string => MARK_PREFIX + sender
const isMarkKey = (key: string): boolean => key.startsWith(MARK_PREFIX)

function isRecord (x: unknown): x is ReplyRecord {
  return x !== null && typeof x === 'object' && 'r' in x && typeof (x as { at?: unknown }).at === 'number'
}

function isMark (x: unknown): x is SeqMark {
  return x !== null && typeof x === 'object' && Number.isSafeInteger((x as { s?: unknown }).s) && typeof (x as { at?: unknown }).at === 'number'
}

export class ReplyRecords {
  private readonly map: AgentState
  private readonly clock: Clock
  private readonly windowMs: number
  private readonly max: number
  private readonly maxMarks: number
  private count = 0
  private marks = 0

  constructor (map: AgentState, clock: Clock, options: { windowMs?: number, max?: number, maxMarks?: number } = {}) {
    this.map = map
    this.clock = clock
    this.windowMs = options.windowMs ?? DEDUP_WINDOW_MS
    this.max = options.max ?? REPLY_RECORDS_MAX
    this.maxMarks = options.maxMarks ?? SEQ_MARKS_MAX
    for (const [k] of map.entries()) { if (isMarkKey(k)) this.marks++; else this.count++ }
  }

  /** the map the records are kept in */
  get state (): AgentState {
    return this.map
  }

  /**
   * the recorded outcome of a delivery: a sequenced one (`origin`) at or below its sender's mark
   * (a one-way message: its reply is null), else the reply recorded for `id` within the window;
   * undefined when it has not been applied here
   */
  get (id: string, origin?: MessageOrigin): { reply: JsonValue } | undefined {
    if (origin != null) {
      const mark: unknown = this.map.get(markKey(origin.sender))
      if (isMark(mark) && origin.seq <= mark.s) return { reply: null }
    }
    const rec: unknown = this.map.get(id)
    if (!isRecord(rec) || this.clock.now() - rec.at > this.windowMs) return undefined
    return { reply: rec.r }
  }

  /**
   * records the turn of `id` (before its commit): a sequenced delivery raises its sender's mark,
   * anything else records `reply`. False when the reply is too large to keep.
   */
  record (id: string, reply: JsonValue, origin?: MessageOrigin): boolean {
    if (origin != null) {
      const key = markKey(origin.sender)
      const mark: unknown = this.map.get(key)
      if (mark === undefined) this.marks++
      this.map.set(key, { s: isMark(mark) ? Math.max(mark.s, origin.seq) : origin.seq, at: this.clock.now() })
      if (this.marks > this.maxMarks) this.pruneMarks()
      return true
    }
    const size = JSON.stringify(reply ?? null).length
    if (size > REPLY_RECORD_MAX_BYTES) return false
    if (!this.map.has(id)) this.count++
    this.map.set(id, { r: reply ?? null, at: this.clock.now() })
    if (this.count > this.max) this.prune()
    return true
  }

  /** drops expired records, then the oldest until a quarter of the room is free again */
  private prune (): void {
    this.count = this.dropOldest(k => !isMarkKey(k), this.max, this.windowMs)
  }

  /** drops marks past retention, then the least recently raised until a quarter of the room is free */
  private pruneMarks (): void {
    this.marks = this.dropOldest(isMarkKey, this.maxMarks, SEQ_MARK_RETENTION_MS)
  }

  private dropOldest (which: (key: string) => boolean, max: number, keepForMs: number): number {
    const now = this.clock.now()
    const all = [...this.map.entries()]
      .filter(([k]) => which(k))
      .map(([k, v]) => ({ k, at: isRecord(v) || isMark(v) ? v.at : 0 }))
      .sort((a, b) => a.at - b.at)
    const keep = Math.floor(max * 3 / 4)
    let n = all.length
    for (const e of all) {
      if (n <= keep && now - e.at <= keepForMs) break
      this.map.delete(e.k)
      n--
    }
    return n
  }
}

/**
 * the records of `map` a compacted state generation keeps: reply records made within `windowMs`
 * of `now`, sequence marks raised within SEQ_MARK_RETENTION_MS
 */
export function * liveReplyRecords (map: AgentState, now: number, windowMs: number): IterableIterator<[string, ReplyRecord | SeqMark]> {
  for (const [k, v] of map.entries()) {
    if (isMarkKey(k)) { if (isMark(v) && now - v.at <= SEQ_MARK_RETENTION_MS) yield [k, v] } else if (isRecord(v) && now - v.at <= windowMs) yield [k, v]
  }
}
