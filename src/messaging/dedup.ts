/**
 * The dedup window: drops a message seen before. Two memories, both bounded:
 * - per stream (sender), a high-water mark (every seq <= it was seen) plus the seqs seen above it;
 *   when too many pile up above a hole, the oldest are folded into the mark (anything older than
 *   the window counts as seen);
 * - recent message ids, by count and by age, for messages without a sequence number.
 */
import { InvalidArgumentError } from '../errors.ts'
import { DEDUP_MAX_IDS, DEDUP_MAX_SENDERS, DEDUP_MAX_SEQS_PER_SENDER, DEDUP_WINDOW_MS } from './constants.ts'
import type { Clock } from '../util/clock.ts'

export interface DedupWindowInit {
  /** recent ids remembered (default DEDUP_MAX_IDS) */
  maxIds?: number
  /** how long an id is remembered (default DEDUP_WINDOW_MS) */
  windowMs?: number
  /** seqs above the high-water mark remembered per stream (default DEDUP_MAX_SEQS_PER_SENDER) */
  maxSeqsPerStream?: number
  /** streams remembered; least recently seen is forgotten (default DEDUP_MAX_SENDERS) */
  maxStreams?: number
}

/** identifies one message for dedup; seq 0 or absent = not sequenced */
export interface DedupKey {
  id: string
  /** usually the sender */
  stream: string
  seq?: number
}

interface StreamMarks {
  highWater: number
  above: Set<number>
}

export class DedupWindow {
  private readonly clock: Clock
  private readonly maxIds: number
  private readonly windowMs: number
  private readonly maxSeqs: number
  private readonly maxStreams: number
  /** id -> when seen (insertion order is time order) */
  private readonly ids = new Map<string, number>()
  private readonly streams = new Map<string, StreamMarks>()

  constructor (clock: Clock, init: DedupWindowInit = {}) {
    this.clock = clock
    this.maxIds = init.maxIds ?? DEDUP_MAX_IDS
    this.windowMs = init.windowMs ?? DEDUP_WINDOW_MS
    this.maxSeqs = init.maxSeqsPerStream ?? DEDUP_MAX_SEQS_PER_SENDER
    this.maxStreams = init.maxStreams ?? DEDUP_MAX_SENDERS
    if (!(this.maxIds >= 1 && this.maxSeqs >= 1 && this.maxStreams >= 1 && this.windowMs >= 0)) {
      throw new InvalidArgumentError('dedup bounds must be positive')
    }
  }

  /** true if the message was seen before (within the window); does not record it */
  isDuplicate (key: DedupKey): boolean {
    this.expireIds()
    if (this.ids.has(key.id)) return true
    const seq = key.seq ?? 0
    if (seq <= 0) return false
    const marks = this.streams.get(key.stream)
    return marks != null && (seq <= marks.highWater || marks.above.has(seq))
  }

  /** records the message; returns true if it is new, false if it is a duplicate to drop */
  observe (key: DedupKey): boolean {
    if (this.isDuplicate(key)) return false
    this.ids.set(key.id, this.clock.monotonic())
    while (this.ids.size > this.maxIds) this.ids.delete(this.ids.keys().next().value as string)
    const seq = key.seq ?? 0
    if (seq > 0) this.recordSeq(key.stream, seq)
    return true
  }

  /**
   * records a sequenced message by its stream and seq alone (no id kept): for publications, whose
   * ids gossipsub already deduplicates. False if the seq was seen.
   */
  observeSeq (stream: string, seq: number): boolean {
    const marks = this.streams.get(stream)
    if (marks != null && (seq <= marks.highWater || marks.above.has(seq))) return false
    this.recordSeq(stream, seq)
    return true
  }

  /** ids currently remembered */
  get size (): number {
    return this.ids.size
  }

  /** the stream's high-water mark: every seq up to it counts as seen */
  highWater (stream: string): number {
    return this.streams.get(stream)?.highWater ?? 0
  }

  /**
   * un-sees a message that was recorded but not delivered (the handler refused it), so its retry
   * gets through. A seq already folded far below the high-water mark cannot be un-seen.
   */
  forget (key: DedupKey): void {
    this.ids.delete(key.id)
    const seq = key.seq ?? 0
    const marks = this.streams.get(key.stream)
    if (seq <= 0 || marks == null) return
    if (marks.above.delete(seq)) return
    if (seq <= marks.highWater && marks.highWater - seq < this.maxSeqs - marks.above.size) {
      for (let s = seq + 1; s <= marks.highWater; s++) marks.above.add(s)
      marks.highWater = seq - 1
    }
  }

  forgetStream (stream: string): void {
    this.streams.delete(stream)
  }

  private recordSeq (stream: string, seq: number): void {
    let marks = this.streams.get(stream)
    if (marks != null) this.streams.delete(stream)
    else {
      marks = { highWater: 0, above: new Set() }
      if (this.streams.size >= this.maxStreams) this.streams.delete(this.streams.keys().next().value as string)
    }
    this.streams.set(stream, marks)
    marks.above.add(seq)
    if (marks.above.size > this.maxSeqs) {
      // fold the oldest quarter into the high-water mark
      const sorted = [...marks.above].sort((a, b) => a - b)
      const cut = sorted[Math.max(0, Math.floor(sorted.length / 4) - 1)]
      marks.highWater = Math.max(marks.highWater, cut)
      for (const s of sorted) { if (s <= cut) marks.above.delete(s); else break }
    }
    while (marks.above.has(marks.highWater + 1)) {
      marks.highWater++
      marks.above.delete(marks.highWater)
    }
  }

  private expireIds (): void {
    const oldest = this.clock.monotonic() - this.windowMs
    for (const [id, at] of this.ids) {
      if (at > oldest) break
      this.ids.delete(id)
    }
  }
}
