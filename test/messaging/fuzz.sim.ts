/**
 * Long fuzz runs of every messaging decoder (npm run test:sim): at least 100k cases each, random
 * and mutated input. A decoder may only return or throw InvalidMessageError, MessageTooLargeError
 * or UnsupportedVersionError. A failure prints fast-check's seed and path; replay with
 * AGENTMESH_FUZZ_SEED=<seed>.
 */
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { decodeEnvelope, encodeEnvelope } from '../../src/messaging/envelope.ts'
import { FrameDecoder, encodeFrame } from '../../src/messaging/framing.ts'
import { decodeHlc } from '../../src/messaging/hlc.ts'
import { envelopeArb, mutatedEnvelopeBytesArb, onlyTypedErrors } from './arbitraries.ts'

const RUNS = Math.max(100_000, Number(process.env.AGENTMESH_FUZZ_RUNS ?? 100_000))
const seed = process.env.AGENTMESH_FUZZ_SEED != null ? Number(process.env.AGENTMESH_FUZZ_SEED) : undefined
const params = { numRuns: RUNS, ...(seed != null ? { seed } : {}) }

/** a frame stream damaged in places, cut into random chunks */
const frameStreamArb = fc.tuple(
  fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 5 }),
  fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 3 }),
  fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: 8 }),
  fc.integer({ min: 0, max: 1024 })
)

describe('messaging decoders under fuzz', { timeout: 10 * 60_000 }, () => {
  it(`envelope: ${RUNS} random byte strings`, () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 400 }), b => onlyTypedErrors(() => decodeEnvelope(b))), params)
  })

  it(`envelope: ${RUNS} random bodies behind a valid 1.x header`, () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 3 }), fc.uint8Array({ maxLength: 300 }), fc.uint8Array({ maxLength: 3 }), (minor, body, tail) => {
      const wire = Uint8Array.from([1, minor, ...encodeFrame(body), ...tail])
      return onlyTypedErrors(() => decodeEnvelope(wire))
    }), params)
  })

  it(`envelope: ${RUNS} damaged valid encodings`, () => {
    fc.assert(fc.property(mutatedEnvelopeBytesArb, b => onlyTypedErrors(() => decodeEnvelope(b))), params)
  })

  it(`envelope: ${RUNS} round trips`, () => {
    fc.assert(fc.property(envelopeArb, e => {
      const d = decodeEnvelope(encodeEnvelope(e)).envelope
      return d.id === e.id && d.seq === e.seq && d.payload.length === e.payload.length
    }), params)
  })

  it(`framing: ${RUNS} damaged frame streams in random chunks`, () => {
    fc.assert(fc.property(frameStreamArb, ([bodies, edits, cuts, max]) => onlyTypedErrors(() => {
      const wire = Uint8Array.from(bodies.flatMap(b => [...encodeFrame(b)]))
      for (const [at, v] of edits) if (wire.length > 0) wire[at % wire.length] = v
      const dec = new FrameDecoder({ maxFrameBytes: max })
      let off = 0; let i = 0
      while (off < wire.length) { const n = cuts[i++ % cuts.length]; dec.push(wire.subarray(off, off + n)); off += n }
      dec.end()
    })), params)
  })

  it(`hlc: ${RUNS} random byte strings`, () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 24 }), b => onlyTypedErrors(() => decodeHlc(b))), params)
  })
})
