/**
 * Topic gap repair. A publisher keeps its recent publications per topic (bounded by count and
 * bytes) and resends a range when a subscriber reports a gap; the subscriber asks with a request
 * of content type RESEND_CONTENT_TYPE and gets the envelopes back, framed, in one reply.
 */
import { InvalidMessageError } from '../errors.ts'
import {
  GAP_REPAIR_MAX_MESSAGES, MAX_PAYLOAD_BYTES, MAX_TOPIC_CHARS, RESEND_CONTENT_TYPE, TOPIC_REPLAY_MAX_BYTES,
  TOPIC_REPLAY_MAX_MESSAGES
} from './constants.ts'
import { FrameDecoder, encodeFrame } from './framing.ts'
import { readJsonPayload } from './payload.ts'
import type { Envelope } from './envelope.ts'
import type { EncodedPayload } from './payload.ts'

export interface ResendRequest {
  /** the full gossipsub topic */
  topic: string
  fromSeq: number
  toSeq: number
}

export class TopicReplay {
  private readonly topics = new Map<string, Map<number, Uint8Array>>()
  private bytes = 0
  private readonly maxPerTopic: number
  private readonly maxBytes: number

  constructor (maxPerTopic = TOPIC_REPLAY_MAX_MESSAGES, maxBytes = TOPIC_REPLAY_MAX_BYTES) {
    this.maxPerTopic = maxPerTopic
    this.maxBytes = maxBytes
  }

  /** keeps a publication (its encoded envelope) for resending */
  remember (topic: string, seq: number, wire: Uint8Array): void {
    let kept = this.topics.get(topic)
    if (kept == null) { kept = new Map(); this.topics.set(topic, kept) }
    kept.set(seq, wire)
    this.bytes += wire.length
    while (kept.size > this.maxPerTopic) this.evictOldest(topic, kept)
    while (this.bytes > this.maxBytes) {
      const [oldestTopic, oldest] = this.topics.entries().next().value as [string, Map<number, Uint8Array>]
      this.evictOldest(oldestTopic, oldest)
    }
  }

  /** the kept publications in fromSeq..toSeq, as many as fit one reply */
  range (req: ResendRequest): Uint8Array[] {
    const kept = this.topics.get(req.topic)
    const out: Uint8Array[] = []
    if (kept == null) return out
    let size = 0
    const last = Math.min(req.toSeq, req.fromSeq + GAP_REPAIR_MAX_MESSAGES - 1)
    for (let seq = req.fromSeq; seq <= last; seq++) {
      const wire = kept.get(seq)
      if (wire == null) continue
      size += wire.length + 5
      if (size > MAX_PAYLOAD_BYTES) break
      out.push(wire)
    }
    return out
  }

  clear (): void {
    this.topics.clear()
    this.bytes = 0
  }

  private evictOldest (topic: string, kept: Map<number, Uint8Array>): void {
    const first = kept.entries().next().value
    if (first == null) { this.topics.delete(topic); return }
    kept.delete(first[0])
    this.bytes -= first[1].length
    if (kept.size === 0) this.topics.delete(topic)
  }
}

export function resendRequestPayload (req: ResendRequest): EncodedPayload {
  return { contentType: RESEND_CONTENT_TYPE, payload: new TextEncoder().encode(JSON.stringify(req)) }
}

/** reads and validates a resend request; InvalidMessageError when malformed */
export function readResendRequest (envelope: Pick<Envelope, 'contentType' | 'payload'>): ResendRequest {
  const v = readJsonPayload({ contentType: 'application/json', payload: envelope.payload }) as Record<string, unknown> | null
  const ok = v != null && typeof v === 'object' && typeof v.topic === 'string' && v.topic.length > 0 &&
    v.topic.length <= MAX_TOPIC_CHARS + 64 && Number.isSafeInteger(v.fromSeq) && Number.isSafeInteger(v.toSeq) &&
    (v.fromSeq as number) >= 1 && (v.toSeq as number) >= (v.fromSeq as number)
  if (!ok) throw new InvalidMessageError('resend request must be { topic, fromSeq >= 1, toSeq >= fromSeq }')
  return { topic: v.topic as string, fromSeq: v.fromSeq as number, toSeq: v.toSeq as number }
}

/** envelopes packed as consecutive frames, for one reply */
export function packEnvelopes (wires: Uint8Array[]): Uint8Array {
  const frames = wires.map(w => encodeFrame(w))
  const out = new Uint8Array(frames.reduce((n, f) => n + f.length, 0))
  let off = 0
  for (const f of frames) { out.set(f, off); off += f.length }
  return out
}

/** the envelopes of a packed reply; InvalidMessageError / MessageTooLargeError when malformed */
export function unpackEnvelopes (bytes: Uint8Array): Uint8Array[] {
  const decoder = new FrameDecoder()
  const frames = decoder.push(bytes)
  decoder.end()
  if (frames.length > GAP_REPAIR_MAX_MESSAGES) throw new InvalidMessageError(`resend reply holds ${frames.length} envelopes, max ${GAP_REPAIR_MAX_MESSAGES}`)
  return frames
}
