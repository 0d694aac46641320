import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import * as encoding from 'lib0/encoding'
import { decodeEnvelope, encodeEnvelope, envelopeSigningBytes } from '../../src/messaging/envelope.ts'
import { FrameDecoder, decodeBatchFrame, encodeFrame, encodeFrames } from '../../src/messaging/framing.ts'
import { MessageOrdering } from '../../src/messaging/ordering.ts'
import { DedupWindow } from '../../src/messaging/dedup.ts'
import { HybridLogicalClock, compareHlc, decodeHlc } from '../../src/messaging/hlc.ts'
import { ManualClock } from '../../src/util/clock.ts'
import { envelopeArb, mutatedEnvelopeBytesArb, onlyTypedErrors } from './arbitraries.ts'
import { messageIdToBytes, parseMessageId } from '../../src/messaging/message-id.ts'
import { isCorrelated } from '../../src/messaging/envelope.ts'
import type { Envelope } from '../../src/messaging/envelope.ts'
import type { Sequenced } from '../../src/messaging/ordering.ts'

/** the 1.0 wire format written field by field with lib0, as docs/messaging.md specifies it */
function referenceEncoding (e: Envelope): Uint8Array {
  const body = encoding.encode(enc => {
    encoding.writeVarUint(enc, ['message', 'request', 'reply', 'ack', 'error-reply'].indexOf(e.kind))
    encoding.writeUint8Array(enc, messageIdToBytes(e.id))
    encoding.writeVarString(enc, e.sender)
    encoding.writeVarUint(enc, e.seq)
    encoding.writeVarUint(enc, e.hlc.wallMs)
    encoding.writeVarUint(enc, e.hlc.logical)
    encoding.writeVarString(enc, e.traceparent)
    encoding.writeVarString(enc, e.contentType)
    encoding.writeVarUint(enc, e.target == null ? 0 : e.target.kind === 'agent' ? 1 : 2)
    if (e.target != null) encoding.writeVarString(enc, e.target.id)
    if (isCorrelated(e)) encoding.writeUint8Array(enc, messageIdToBytes(e.correlationId))
    encoding.writeVarUint8Array(enc, e.payload)
  })
  return encoding.encode(enc => {
    encoding.writeVarUint(enc, 1)
    encoding.writeVarUint(enc, 0)
    encoding.writeVarUint8Array(enc, body)
    encoding.writeVarUint8Array(enc, e.signature ?? new Uint8Array(0))
  })
}

// sized to take a few seconds in total; test/messaging/fuzz.sim.ts runs the decoders far longer
const RUNS = Number(process.env.AGENTMESH_PROPERTY_RUNS ?? 4000)

describe('envelope properties', () => {
  it('round-trips arbitrary envelopes, and the receiver sees the signed bytes', () => {
    fc.assert(fc.property(envelopeArb, (e) => {
      const decoded = decodeEnvelope(encodeEnvelope(e))
      assert.deepEqual(decoded.envelope, e)
      const { signature: _sig, ...unsigned } = e
      assert.deepEqual(decoded.signedBytes, envelopeSigningBytes(unsigned as typeof e))
    }), { numRuns: RUNS })
  })

  it('keeps a leading U+FEFF in a target id (it is text, not a byte-order mark)', () => {
    // found by the round-trip property on CI: the default TextDecoder dropped it from an agent id
    const e: Envelope = {
      kind: 'message', id: parseMessageId('00000000000000000000000000000000'), sender: 'peer', seq: 0,
      hlc: { wallMs: 0, logical: 0 }, traceparent: '00-00000000000000000000000000000000-0000000000000000-00',
      contentType: 'application/json', payload: new Uint8Array(0), target: { kind: 'agent', id: '\uFEFF\u0000' }
    }
    assert.deepEqual(decodeEnvelope(encodeEnvelope(e)).envelope, e)
  })

  it('encodes exactly the documented wire format (byte for byte, as lib0 writes it)', () => {
    fc.assert(fc.property(envelopeArb, (e) => {
      assert.deepEqual(encodeEnvelope(e), referenceEncoding(e))
    }), { numRuns: RUNS })
  })

  it('decoding random or damaged bytes throws only typed errors', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 512 }), (b) => onlyTypedErrors(() => decodeEnvelope(b))), { numRuns: RUNS * 2 })
    fc.assert(fc.property(mutatedEnvelopeBytesArb, (b) => onlyTypedErrors(() => decodeEnvelope(b))), { numRuns: RUNS * 2 })
    fc.assert(fc.property(fc.uint8Array({ maxLength: 32 }), (b) => onlyTypedErrors(() => decodeHlc(b))), { numRuns: RUNS })
  })
})

describe('framing properties', () => {
  it('RPC 2.0 batches: any list of envelopes comes back whole and in order; junk is refused with typed errors', () => {
    fc.assert(fc.property(fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 40 }), (bodies) => {
      const frames = new FrameDecoder().push(encodeFrames(bodies, true))
      assert.deepEqual(frames.flatMap(f => decodeBatchFrame(f)).map(b => [...b]), bodies.map(b => [...b]))
    }), { numRuns: RUNS / 4 })
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), (b) => onlyTypedErrors(() => decodeBatchFrame(b))), { numRuns: RUNS })
  })

  it('returns the same frames however the stream is chunked', () => {
    fc.assert(fc.property(
      fc.array(fc.uint8Array({ maxLength: 400 }), { maxLength: 8 }),
      fc.array(fc.integer({ min: 1, max: 200 }), { minLength: 1, maxLength: 20 }),
      (bodies, cuts) => {
        const wire = Uint8Array.from(bodies.flatMap(b => [...encodeFrame(b)]))
        const dec = new FrameDecoder()
        const got: Uint8Array[] = []
        let off = 0; let i = 0
        while (off < wire.length) { const n = cuts[i++ % cuts.length]; got.push(...dec.push(wire.subarray(off, off + n))); off += n }
        dec.end()
        assert.deepEqual(got, bodies)
      }), { numRuns: RUNS })
  })

  it('decoding random chunks throws only typed errors', () => {
    fc.assert(fc.property(fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 6 }), fc.integer({ min: 0, max: 4096 }), (chunks, max) =>
      onlyTypedErrors(() => {
        const dec = new FrameDecoder({ maxFrameBytes: max })
        for (const c of chunks) dec.push(c)
        dec.end()
      })), { numRuns: RUNS * 2 })
  })
})

interface Msg extends Sequenced { id: string }

/** every sender's messages 1..n, duplicated and shuffled together */
const arrivalsArb = fc.array(fc.integer({ min: 0, max: 40 }), { minLength: 1, maxLength: 4 }).chain(counts => {
  const all: Msg[] = counts.flatMap((n, s) => Array.from({ length: n }, (_, i) => ({ sender: `p${s}`, seq: i + 1, id: `p${s}-${i + 1}`, hlc: { wallMs: i, logical: s } })))
  return fc.tuple(fc.constant(counts), fc.shuffledSubarray([...all, ...all], { minLength: all.length * 2, maxLength: all.length * 2 }))
})

function fifoBySender (delivered: Msg[], counts: number[]): void {
  counts.forEach((n, s) => {
    assert.deepEqual(delivered.filter(m => m.sender === `p${s}`).map(m => m.seq), Array.from({ length: n }, (_, i) => i + 1))
  })
}

describe('ordering properties', () => {
  it('delivers each sender FIFO, exactly once, whatever the arrival order and duplication', () => {
    fc.assert(fc.property(arrivalsArb, ([counts, arrivals]) => {
      const o = new MessageOrdering<Msg>(new ManualClock(0), { skipGapAfterMs: Infinity })
      const delivered = arrivals.flatMap(m => o.push(m).delivered)
      fifoBySender(delivered, counts)
      assert.deepEqual(o.gaps(), [])
    }), { numRuns: RUNS })
  })

  it('with a tiny reorder buffer, resending what is undelivered (gap repair) still ends FIFO and complete', () => {
    fc.assert(fc.property(arrivalsArb, fc.integer({ min: 1, max: 4 }), ([counts, arrivals], buf) => {
      const o = new MessageOrdering<Msg>(new ManualClock(0), { maxBufferedPerStream: buf, skipGapAfterMs: Infinity })
      const delivered = o.handleMessageOrdering(arrivals).delivered
      for (let round = 0; round < 200; round++) {
        const gaps = o.gaps()
        const done = new Set(delivered.map(m => m.id))
        const resend = arrivals.filter(m => !done.has(m.id))
        if (resend.length === 0) break
        // ask first for the gaps reported, then everything still unacknowledged
        const first = resend.filter(m => gaps.some(g => g.stream === m.sender && m.seq >= g.fromSeq && m.seq <= g.toSeq))
        delivered.push(...o.handleMessageOrdering([...first, ...resend]).delivered)
      }
      fifoBySender(delivered, counts)
    }), { numRuns: Math.ceil(RUNS / 3) })
  })

  it('a batch is causally ordered: HLC order across senders, FIFO within each', () => {
    fc.assert(fc.property(arrivalsArb, ([counts, arrivals]) => {
      const o = new MessageOrdering<Msg>(new ManualClock(0))
      const out = o.handleMessageOrdering(arrivals).delivered
      fifoBySender(out, counts)
      for (let i = 1; i < out.length; i++) assert.ok(compareHlc(out[i - 1].hlc, out[i].hlc) <= 0)
    }), { numRuns: RUNS })
  })
})

describe('dedup properties', () => {
  it('lets each message through exactly once', () => {
    fc.assert(fc.property(arrivalsArb, ([, arrivals]) => {
      const d = new DedupWindow(new ManualClock(0))
      const passed = arrivals.filter(m => d.observe({ id: m.id, stream: m.sender, seq: m.seq }))
      assert.equal(new Set(passed.map(m => m.id)).size, passed.length)
      assert.equal(passed.length, arrivals.length / 2)
    }), { numRuns: RUNS })
  })
})

describe('HLC properties', () => {
  it('a received timestamp is after both the remote one and everything issued before', () => {
    fc.assert(fc.property(fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 0, max: 100 }), fc.integer({ min: -50, max: 50 }), fc.nat(5))), (steps) => {
      const clock = new ManualClock(1000)
      const hlc = new HybridLogicalClock(clock, { maxSkewMs: 60 })
      let last = hlc.send()
      for (const [isRecv, advance, skew, logical] of steps) {
        clock.advance(advance)
        const remote = { wallMs: clock.now() + skew, logical }
        const t = isRecv ? hlc.receive(remote) : hlc.send()
        assert.ok(compareHlc(t, last) > 0)
        if (isRecv) assert.ok(compareHlc(t, remote) > 0)
        last = t
      }
    }), { numRuns: RUNS })
  })
})
