import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { FrameDecoder, decodeBatchFrame, decodeFrames, encodeFrame, encodeFrames } from '../../src/messaging/framing.ts'
import { MAX_ENVELOPE_BYTES, MAX_FRAME_BYTES, RPC_BATCH_MAX_ENVELOPES } from '../../src/messaging/constants.ts'
import { seededRng } from '../../src/util/prng.ts'
import { thrownName } from './helpers.ts'

/** a minimal Uint8ArrayList stand-in: several buffers, `.subarray()` joins them */
class ChunkList {
  constructor (private readonly parts: Uint8Array[]) {}
  subarray (): Uint8Array {
    const out = new Uint8Array(this.parts.reduce((n, p) => n + p.length, 0))
    let o = 0
    for (const p of this.parts) { out.set(p, o); o += p.length }
    return out
  }
}

function concat (parts: Uint8Array[]): Uint8Array {
  return new ChunkList(parts).subarray()
}

describe('stream framing', () => {
  it('reassembles frames from chunks split at every possible point', () => {
    const bodies = [new Uint8Array(0), new Uint8Array([1, 2, 3]), new Uint8Array(300).fill(7), new Uint8Array(20_000).fill(9)]
    const wire = concat(bodies.map(b => encodeFrame(b)))
    const rng = seededRng(11)
    for (let round = 0; round < 200; round++) {
      const dec = new FrameDecoder()
      const got: Uint8Array[] = []
      let off = 0
      while (off < wire.length) {
        const n = 1 + rng.int(round < 100 ? 8 : 5000)
        const chunk = wire.subarray(off, off + n)
        got.push(...dec.push(rng.int(2) === 0 ? chunk : new ChunkList([chunk.subarray(0, 1), chunk.subarray(1)])))
        off += n
      }
      dec.end()
      assert.deepEqual(got, bodies)
    }
  })

  it('refuses an oversized length prefix before buffering the body', () => {
    const dec = new FrameDecoder({ maxFrameBytes: 1000 })
    const prefix = encodeFrame(new Uint8Array(1001), { maxFrameBytes: 2000 }).subarray(0, 2)
    assert.equal(thrownName(() => dec.push(prefix)), 'MessageTooLargeError')
    // the decoder stays failed
    assert.equal(thrownName(() => dec.push(new Uint8Array([1]))), 'MessageTooLargeError')
    // an endless run of continuation bytes is refused as soon as it passes the limit
    const dec2 = new FrameDecoder({ maxFrameBytes: 1000 })
    assert.equal(thrownName(() => dec2.push(new Uint8Array([0xff, 0xff]))), 'MessageTooLargeError')
    assert.equal(thrownName(() => encodeFrame(new Uint8Array(11), { maxFrameBytes: 10 })), 'MessageTooLargeError')
  })

  it('reports a stream that ends inside a frame, and a non-minimal prefix, as InvalidMessageError', () => {
    const dec = new FrameDecoder()
    dec.push(encodeFrame(new Uint8Array(10)).subarray(0, 5))
    assert.equal(thrownName(() => dec.end()), 'InvalidMessageError')
    const dec2 = new FrameDecoder()
    assert.equal(thrownName(() => dec2.push(new Uint8Array([0x85, 0x00]))), 'InvalidMessageError')
  })

  it('decodes an async stream of chunks', async () => {
    async function * source (): AsyncGenerator<Uint8Array> {
      const wire = concat([encodeFrame(new Uint8Array([1])), encodeFrame(new Uint8Array([2, 2]))])
      for (const b of wire) yield new Uint8Array([b])
    }
    const frames: Uint8Array[] = []
    for await (const f of decodeFrames(source())) frames.push(f)
    assert.deepEqual(frames, [new Uint8Array([1]), new Uint8Array([2, 2])])
    async function * truncated (): AsyncGenerator<Uint8Array> { yield new Uint8Array([5, 1]) }
    await assert.rejects(async () => { for await (const _ of decodeFrames(truncated())) { /* none */ } }, { name: 'InvalidMessageError' })
  })
})

describe('RPC write batches', () => {
  const bodies = (sizes: number[]): Uint8Array[] => sizes.map((n, i) => new Uint8Array(n).fill(i % 251))

  it('1.0: back-to-back frames, identical to framing each envelope on its own', () => {
    const bs = bodies([0, 1, 127, 128, 300])
    const joined = encodeFrames(bs, false)
    assert.deepEqual(joined, new Uint8Array(bs.flatMap(b => [...encodeFrame(b)])))
    assert.deepEqual(new FrameDecoder().push(joined), bs)
  })

  it('2.0: batch frames round-trip, split by count and by the frame limit', () => {
    const many = bodies(Array.from({ length: RPC_BATCH_MAX_ENVELOPES * 2 + 3 }, (_, i) => i % 200))
    const big = bodies([MAX_ENVELOPE_BYTES, MAX_ENVELOPE_BYTES - 10, 5])
    for (const bs of [many, big, bodies([7])]) {
      const frames = new FrameDecoder().push(encodeFrames(bs, true))
      assert.ok(frames.every(f => f.length <= MAX_FRAME_BYTES))
      const back = frames.flatMap(f => decodeBatchFrame(f))
      assert.deepEqual(back.map(b => [...b.subarray(0, 3), b.length]), bs.map(b => [...b.subarray(0, 3), b.length]))
    }
    assert.equal(new FrameDecoder().push(encodeFrames(many, true)).length, 3, 'full batches of RPC_BATCH_MAX_ENVELOPES')
    assert.equal(new FrameDecoder().push(encodeFrames(big, true)).length, 2, 'two near-limit envelopes never share a frame')
  })

  it('2.0: refuses malformed batch frames with typed errors', () => {
    assert.equal(thrownName(() => decodeBatchFrame(new Uint8Array([0]))), 'InvalidMessageError')            // empty batch
    assert.equal(thrownName(() => decodeBatchFrame(new Uint8Array([2, 1, 9]))), 'InvalidMessageError')     // second missing
    assert.equal(thrownName(() => decodeBatchFrame(new Uint8Array([1, 1, 9, 9]))), 'InvalidMessageError')  // trailing byte
    assert.equal(thrownName(() => decodeBatchFrame(new Uint8Array([1, 5, 1]))), 'InvalidMessageError')     // truncated
    assert.equal(thrownName(() => decodeBatchFrame(new Uint8Array([1, 0xff, 0xff, 0xff, 0x0f]))), 'MessageTooLargeError')
    assert.equal(thrownName(() => encodeFrames([new Uint8Array(MAX_ENVELOPE_BYTES + 1)], true)), 'MessageTooLargeError')
  })
})
