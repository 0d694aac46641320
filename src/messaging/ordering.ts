/**
 * Delivery order. Per stream (by default: per sender) messages are released in sequence-number
 * order (FIFO): early arrivals wait in a bounded reorder buffer; missing ranges are reported as
 * gaps so the sender can be asked to resend them (gap repair). A gap that stays open longer than
 * `skipGapAfterMs` is skipped explicitly: its messages are given up, reported in `skipped`, and
 * the buffered ones after it are released. Across streams, `causalOrder` merges by hybrid
 * logical clock with the sender as tie-break, never reordering within a stream.
 */
import { InvalidArgumentError } from '../errors.ts'
import { ORDERING_MAX_SENDERS, ORDERING_SKIP_GAP_AFTER_MS, REORDER_BUFFER_MAX_MESSAGES } from './constants.ts'
import { compareHlc } from './hlc.ts'
import type { HlcTimestamp } from './hlc.ts'
import type { Clock } from '../util/clock.ts'

/** what ordering needs from a message (an Envelope has all of it) */
export interface Sequenced {
  sender: string
  seq: number
  hlc: HlcTimestamp
}

/** seqs fromSeq..toSeq (inclusive) of a stream are missing */
export interface SequenceGap {
  stream: string
  fromSeq: number
  toSeq: number
}

export interface OrderingResult<T> {
  /** messages released, FIFO per stream (causally merged across streams by handleMessageOrdering) */
  delivered: T[]
  /** gaps still open after this step: ask their senders to resend */
  gaps: SequenceGap[]
  /** gaps given up in this step by the skip-after-timeout policy */
  skipped: SequenceGap[]
  /** messages dropped as already delivered or already buffered */
  duplicates: number
  /** messages dropped because a reorder buffer was full (they reappear as gaps to repair) */
  overflowed: number
}

export interface MessageOrderingInit<T extends Sequenced> {
  /** out-of-order messages held per stream (default REORDER_BUFFER_MAX_MESSAGES) */
  maxBufferedPerStream?: number
  /** streams tracked at once; the least recently active is forgotten (default ORDERING_MAX_SENDERS) */
  maxStreams?: number
  /** a gap open this long is skipped; Infinity waits for repair forever (default ORDERING_SKIP_GAP_AFTER_MS) */
  skipGapAfterMs?: number
  /** the stream a message belongs to (default: its sender) */
  streamOf?: (message: T) => string
  /** the seq expected first from a stream never seen before (default 1) */
  firstSeq?: number
  /** start an unknown stream at the first seq seen instead of firstSeq (late joiners of a topic) */
  startAtFirstSeen?: boolean
}

interface StreamState<T> {
  nextSeq: number
  /** seq -> message and when it arrived */
  buffer: Map<number, { message: T, atMs: number }>
}

export class MessageOrdering<T extends Sequenced> {
  private readonly clock: Clock
  private readonly maxBuffered: number
  private readonly maxStreams: number
  private readonly skipGapAfterMs: number
  private readonly streamOf: (message: T) => string
  private readonly firstSeq: number
  private readonly startAtFirstSeen: boolean
  private readonly streams = new Map<string, StreamState<T>>()

  constructor (clock: Clock, init: MessageOrderingInit<T> = {}) {
    this.clock = clock
    this.maxBuffered = init.maxBufferedPerStream ?? REORDER_BUFFER_MAX_MESSAGES
    this.maxStreams = init.maxStreams ?? ORDERING_MAX_SENDERS
    this.skipGapAfterMs = init.skipGapAfterMs ?? ORDERING_SKIP_GAP_AFTER_MS
    this.streamOf = init.streamOf ?? ((m) => m.sender)
    this.firstSeq = init.firstSeq ?? 1
    this.startAtFirstSeen = init.startAtFirstSeen ?? false
    if (!(this.maxBuffered >= 1) || !(this.maxStreams >= 1)) throw new InvalidArgumentError('ordering bounds must be >= 1')
    if (!(this.skipGapAfterMs >= 0)) throw new InvalidArgumentError('skipGapAfterMs must be >= 0')
  }

  /** accepts one message; returns what it released and the gaps now open on its stream */
  push (message: T): OrderingResult<T> {
    const result = emptyResult<T>()
    const stream = this.streamOf(message)
    this.accept(stream, message, result)
    this.applySkipPolicy(result)
    result.gaps = this.gaps()
    return result
  }

  /**
   * orders a batch: FIFO per stream (buffering what arrives early, across calls), applies the
   * skip policy, and merges what is released causally (HLC, sender tie-break). Returns the gaps
   * left open so the caller can ask for resends.
   */
  handleMessageOrdering (messages: Iterable<T>): OrderingResult<T> {
    const result = emptyResult<T>()
    const batch = [...messages].map(m => ({ m, stream: this.streamOf(m) }))
    // pushing each stream in seq order keeps the reorder buffer as small as the batch allows
    batch.sort((a, b) => a.stream < b.stream ? -1 : a.stream > b.stream ? 1 : a.m.seq - b.m.seq)
    for (const { m, stream } of batch) this.accept(stream, m, result)
    this.applySkipPolicy(result)
    result.delivered = causalOrder(result.delivered, this.streamOf)
    result.gaps = this.gaps()
    return result
  }

  /** applies the skip-after-timeout policy now (call it from a timer) */
  expireGaps (): OrderingResult<T> {
    const result = emptyResult<T>()
    this.applySkipPolicy(result)
    result.gaps = this.gaps()
    return result
  }

  /** every open gap, per stream, lowest first */
  gaps (): SequenceGap[] {
    const out: SequenceGap[] = []
    for (const [stream, st] of this.streams) {
      if (st.buffer.size === 0) continue
      let expected = st.nextSeq
      for (const seq of [...st.buffer.keys()].sort((a, b) => a - b)) {
        if (seq > expected) out.push({ stream, fromSeq: expected, toSeq: seq - 1 })
        expected = seq + 1
      }
    }
    return out
  }

  /** the seq the stream is waiting for next, or undefined for a stream not tracked */
  nextSeq (stream: string): number | undefined {
    return this.streams.get(stream)?.nextSeq
  }

  /** true while `seq` of `stream` waits in the reorder buffer */
  isBuffered (stream: string, seq: number): boolean {
    return this.streams.get(stream)?.buffer.has(seq) === true
  }

  /** messages waiting in reorder buffers */
  get bufferedCount (): number {
    let n = 0
    for (const st of this.streams.values()) n += st.buffer.size
    return n
  }

  /** forgets a stream (its sender left); buffered messages are dropped */
  forgetStream (stream: string): void {
    this.streams.delete(stream)
  }

  private accept (stream: string, message: T, result: OrderingResult<T>): void {
    const seq = message.seq
    if (!Number.isSafeInteger(seq) || seq < 0) throw new InvalidArgumentError(`seq ${seq} is not a sequence number`)
    const st = this.touch(stream, seq, result)
    if (seq < st.nextSeq || st.buffer.has(seq)) { result.duplicates++; return }
    if (seq === st.nextSeq) {
      result.delivered.push(message)
      st.nextSeq++
      this.releaseContiguous(st, result)
      return
    }
    if (st.buffer.size >= this.maxBuffered) {
      const highest = Math.max(...st.buffer.keys())
      result.overflowed++
      if (seq > highest) return
      st.buffer.delete(highest)
    }
    st.buffer.set(seq, { message, atMs: this.clock.monotonic() })
  }

  private touch (stream: string, seq: number, result: OrderingResult<T>): StreamState<T> {
    let st = this.streams.get(stream)
    if (st != null) {
      this.streams.delete(stream)
    } else {
      st = { nextSeq: this.startAtFirstSeen ? seq : this.firstSeq, buffer: new Map() }
      if (this.streams.size >= this.maxStreams) {
        const [oldest, old] = this.streams.entries().next().value as [string, StreamState<T>]
        result.overflowed += old.buffer.size
        this.streams.delete(oldest)
      }
    }
    this.streams.set(stream, st)
    return st
  }

  private releaseContiguous (st: StreamState<T>, result: OrderingResult<T>): void {
    for (;;) {
      const next = st.buffer.get(st.nextSeq)
      if (next == null) return
      st.buffer.delete(st.nextSeq)
      result.delivered.push(next.message)
      st.nextSeq++
    }
  }

  private applySkipPolicy (result: OrderingResult<T>): void {
    if (this.skipGapAfterMs === Infinity) return
    const now = this.clock.monotonic()
    for (const [stream, st] of this.streams) {
      // the head gap has been known since the earliest arrival still waiting behind it
      while (st.buffer.size > 0) {
        let oldest = Infinity
        let lowest = Infinity
        for (const [seq, { atMs }] of st.buffer) {
          if (atMs < oldest) oldest = atMs
          if (seq < lowest) lowest = seq
        }
        if (now - oldest < this.skipGapAfterMs) break
        result.skipped.push({ stream, fromSeq: st.nextSeq, toSeq: lowest - 1 })
        st.nextSeq = lowest
        this.releaseContiguous(st, result)
      }
    }
  }
}

function emptyResult<T> (): OrderingResult<T> {
  return { delivered: [], gaps: [], skipped: [], duplicates: 0, overflowed: 0 }
}

/**
 * merges messages causally: by hybrid logical clock, sender as tie-break, keeping each stream's
 * given order (a stream's clock is made monotonic first, so a sender whose clock went backwards
 * is still delivered FIFO).
 */
export function causalOrder<T extends Sequenced> (messages: readonly T[], streamOf: (m: T) => string = (m) => m.sender): T[] {
  const lastByStream = new Map<string, HlcTimestamp>()
  const keyed = messages.map((m, index) => {
    const stream = streamOf(m)
    const prev = lastByStream.get(stream)
    const hlc = prev != null && compareHlc(prev, m.hlc) > 0 ? prev : m.hlc
    lastByStream.set(stream, hlc)
    return { m, hlc, stream, index }
  })
  keyed.sort((a, b) =>
    compareHlc(a.hlc, b.hlc) ||
    (a.m.sender < b.m.sender ? -1 : a.m.sender > b.m.sender ? 1 : 0) ||
    (a.stream < b.stream ? -1 : a.stream > b.stream ? 1 : 0) ||
    a.index - b.index)
  return keyed.map(k => k.m)
}
