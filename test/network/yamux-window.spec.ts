/**
 * meshYamux (src/network/yamux-window.ts, packet-writes.ts): window updates at half the window,
 * one transport write per encrypted packet. Over real libp2p nodes (TCP + Noise on 127.0.0.1):
 * the receiver of many small messages no longer answers each with a window update; large
 * transfers both ways and many concurrent streams arrive whole, with a stock yamux peer on either
 * end too; and the upstream internals it relies on still have the shape it expects.
 */
import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { createLibp2p } from 'libp2p'
import { tcp } from '@libp2p/tcp'
import { noise } from '@libp2p/noise'
import { yamux } from '@libp2p/yamux'
import { StreamState } from '@libp2p/yamux/stream'
import type { Libp2p, Stream, StreamMuxerFactory, MessageStream } from '@libp2p/interface'
import {
  meshYamux, sendThresholdWindowUpdate, yamuxMuxerShapeProblems, yamuxStreamShapeProblems
} from '../../src/network/yamux-window.ts'
import type { YamuxStreamInternals } from '../../src/network/yamux-window.ts'
import { joinWrite, packetLengthOr, quietPacketLengths, transportConnectionOf } from '../../src/network/packet-writes.ts'

const PROTOCOL = '/agentmesh-test/bulk/1.0.0'
const WINDOW = 256 * 1024

/** what the muxer factories of one node saw */
interface Seen {
  /** calls to the transport's sendData on each connection (counted where the shape allows) */
  transportWrites: number
  shapeProblems: string[]
}

/** a muxer factory that records the transport's writes and checks the internals' shape */
function observed (inner: () => StreamMuxerFactory, seen: Seen): () => StreamMuxerFactory {
  return () => {
    const factory = inner()
    return {
      protocol: factory.protocol,
      createStreamMuxer: (maConn: MessageStream) => {
        const transport = transportConnectionOf(maConn)
        if (transport === undefined) seen.shapeProblems.push('the connection under the muxer has no stream.sendData: see src/network/packet-writes.ts')
        const decoder = (maConn as { decoder?: { lengthDecoder?: unknown, encodingLength?: (n: number) => number, maxDataLength?: unknown } }).decoder
        if (typeof decoder?.lengthDecoder !== 'function' || decoder.encodingLength?.(0) !== 2 || typeof decoder.maxDataLength !== 'number') {
          seen.shapeProblems.push('the connection under the muxer has no Noise packet decoder of the expected shape: see quietPacketLengths in src/network/packet-writes.ts')
        }
        const muxer = factory.createStreamMuxer(maConn)
        seen.shapeProblems.push(...yamuxMuxerShapeProblems(muxer))
        if (transport !== undefined) {
          // wraps whatever is installed (meshYamux's join, or the transport's own)
          const sendData = transport.sendData.bind(transport)
          transport.sendData = (data) => { seen.transportWrites++; return sendData(data) }
        }
        return muxer
      }
    }
  }
}

async function startNode (muxer: () => StreamMuxerFactory, seen: Seen): Promise<Libp2p> {
  return await createLibp2p({
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [observed(muxer, seen) as any]
  })
}

/** deterministic bytes; the first is `seed` */
function pattern (seed: number, length: number): Uint8Array {
  const out = new Uint8Array(length)
  for (let i = 0; i < length; i++) out[i] = (seed + i * 31 + (i >>> 11)) & 0xff
  return out
}

/** what the handlers send back (while still reading) */
const REPLY_SEED = 200
const BIG_BYTES = 6 * 1024 * 1024
const SMALL_BYTES = 192 * 1024
const protocolFor = (bytes: number): string => `${PROTOCOL}/${bytes}`

async function sendAll (stream: Stream, data: Uint8Array, chunkBytes: number): Promise<void> {
  for (let i = 0; i < data.byteLength; i += chunkBytes) {
    if (!stream.send(data.subarray(i, Math.min(i + chunkBytes, data.byteLength)))) await stream.onDrain({ signal: AbortSignal.timeout(60_000) })
  }
}

async function readAll (stream: Stream, expected: number): Promise<Uint8Array> {
  const out = new Uint8Array(expected)
  let at = 0
  for await (const chunk of stream) {
    const bytes = chunk instanceof Uint8Array ? chunk : chunk.subarray()
    if (at + bytes.byteLength > expected) throw new Error(`received more than the ${expected} bytes sent`)
    out.set(bytes, at)
    at += bytes.byteLength
    if (at === expected) break
  }
  if (at !== expected) throw new Error(`the stream ended after ${at} of ${expected} bytes`)
  return out
}

/**
 * For each size, a handler that reads that many bytes while it sends as many back; a request
 * that is not the pattern its first byte names aborts the stream (so the client's read fails).
 */
async function serveBulk (node: Libp2p, chunkBytes: number): Promise<void> {
  for (const bytes of [BIG_BYTES, SMALL_BYTES]) {
    await node.handle(protocolFor(bytes), async (stream) => {
      try {
        const [req] = await Promise.all([readAll(stream, bytes), sendAll(stream, pattern(REPLY_SEED, bytes), chunkBytes)])
        if (!Buffer.from(req).equals(pattern(req[0], bytes))) throw new Error('the request bytes arrived altered')
        await stream.close({ signal: AbortSignal.timeout(60_000) })
      } catch (err) {
        stream.abort(err as Error)
      }
    }, { maxInboundStreams: 256, maxOutboundStreams: 256 })
  }
}

/** sends `bytes` while reading as many back, and checks what came back */
async function bulkExchange (from: Libp2p, to: Libp2p, seed: number, bytes: number, chunkBytes: number): Promise<void> {
  const stream = await from.dialProtocol(to.getMultiaddrs()[0], protocolFor(bytes), { signal: AbortSignal.timeout(30_000) })
  const [, theirs] = await Promise.all([sendAll(stream, pattern(seed, bytes), chunkBytes), readAll(stream, bytes)])
  assert.ok(Buffer.from(theirs).equals(pattern(REPLY_SEED, bytes)), `stream ${seed}: the bytes sent back differ`)
  await stream.close({ signal: AbortSignal.timeout(30_000) })
}

describe('meshYamux over TCP + Noise', () => {
  const cases: Array<[string, () => () => StreamMuxerFactory, () => () => StreamMuxerFactory]> = [
    ['mesh dialer, mesh listener', () => meshYamux(), () => meshYamux()],
    ['mesh dialer, stock listener', () => meshYamux(), () => yamux()],
    ['stock dialer, mesh listener', () => yamux(), () => meshYamux()]
  ]
  for (const [name, dialerMuxer, listenerMuxer] of cases) {
    describe(name, () => {
      let a: Libp2p
      let b: Libp2p
      const seenA: Seen = { transportWrites: 0, shapeProblems: [] }
      const seenB: Seen = { transportWrites: 0, shapeProblems: [] }
      before(async () => {
        a = await startNode(dialerMuxer(), seenA)
        b = await startNode(listenerMuxer(), seenB)
        await serveBulk(b, 64 * 1024)
      })
      after(async () => {
        await Promise.all([a?.stop(), b?.stop()])
      })

      it('carries 6 MiB each way on one stream, both directions at once', async () => {
        await bulkExchange(a, b, 3, BIG_BYTES, 64 * 1024)
        assert.deepEqual([...seenA.shapeProblems, ...seenB.shapeProblems], [])
      })

      it('carries 32 concurrent streams of 192 KiB each way, in small and large writes', async () => {
        await Promise.all(Array.from({ length: 32 }, async (_, i) => {
          await bulkExchange(a, b, 10 + i, SMALL_BYTES, i % 2 === 0 ? 1000 : 48 * 1024)
        }))
        assert.deepEqual([...seenA.shapeProblems, ...seenB.shapeProblems], [])
      })
    })
  }

  it('a receiver of many small messages sends no window update per message', async () => {
    // the receiver is meshYamux, the sender stock: only the receiver's own behaviour is counted
    const seenMesh: Seen = { transportWrites: 0, shapeProblems: [] }
    const seenStock: Seen = { transportWrites: 0, shapeProblems: [] }
    const sender = await startNode(yamux(), seenStock)
    const receiver = await startNode(meshYamux(), seenMesh)
    const MESSAGES = 400
    const MESSAGE_BYTES = 100
    try {
      const received = Promise.withResolvers<number>()
      await receiver.handle(PROTOCOL, async (stream) => {
        let bytes = 0
        for await (const chunk of stream) {
          bytes += chunk.byteLength
          if (bytes === MESSAGES * MESSAGE_BYTES) break
        }
        received.resolve(bytes)
      })
      const stream = await sender.dialProtocol(receiver.getMultiaddrs()[0], PROTOCOL, { signal: AbortSignal.timeout(30_000) })
      // the protocol is negotiated (the receiver has answered) before counting starts
      const before = seenMesh.transportWrites
      for (let i = 0; i < MESSAGES; i++) {
        stream.send(pattern(i, MESSAGE_BYTES))
        // one message per event-loop turn, as a Raft leader's appends arrive
        await new Promise<void>(resolve => { setImmediate(resolve) })
      }
      assert.equal(await received.promise, MESSAGES * MESSAGE_BYTES)
      const writes = seenMesh.transportWrites - before
      // 40,000 bytes are under half of the 256 KiB window: no update is owed. The stream's ACK
      // and a keep-alive ping or two may go out; a per-message update would be 400 writes
      assert.ok(writes <= 5, `the receiver wrote ${writes} times while receiving ${MESSAGES} messages`)
      assert.deepEqual(seenMesh.shapeProblems, [])
      // the stream libp2p hands out is yamux's own, with the members the threshold update uses
      assert.deepEqual(yamuxStreamShapeProblems(stream), [], '@libp2p/yamux stream internals changed: see src/network/yamux-window.ts')
      await stream.close({ signal: AbortSignal.timeout(10_000) })
    } finally {
      await Promise.all([sender.stop(), receiver.stop()])
    }
  })
})

describe('meshYamux: a paused reader', () => {
  for (const [name, senderMuxer] of [['mesh sender', () => meshYamux()], ['stock sender', () => yamux()]] as const) {
    it(`stops a ${name} at the window's end and lets it finish once resumed`, async () => {
      const sender = await startNode(senderMuxer(), { transportWrites: 0, shapeProblems: [] })
      const receiver = await startNode(meshYamux(), { transportWrites: 0, shapeProblems: [] })
      const BYTES = 3 * 1024 * 1024
      try {
        const paused = Promise.withResolvers<Stream>()
        const received = Promise.withResolvers<Uint8Array>()
        await receiver.handle(PROTOCOL, (stream) => {
          stream.pause()
          paused.resolve(stream)
          readAll(stream, BYTES).then(received.resolve, received.reject)
        })
        const stream = await sender.dialProtocol(receiver.getMultiaddrs()[0], PROTOCOL, { signal: AbortSignal.timeout(30_000) })
        const data = pattern(7, BYTES)
        let at = 0
        // write until the receive window is used up: the sender is told to wait
        while (at < BYTES && stream.send(data.subarray(at, at + 16 * 1024))) at += 16 * 1024
        at += 16 * 1024
        assert.ok(at < BYTES, 'the sender was never stopped by a paused reader')
        const remote = await paused.promise
        remote.resume()
        await stream.onDrain({ signal: AbortSignal.timeout(60_000) })
        await sendAll(stream, data.subarray(at), 64 * 1024)
        assert.ok(Buffer.from(await received.promise).equals(data), 'the bytes arrived altered')
        await stream.close({ signal: AbortSignal.timeout(30_000) })
      } finally {
        await Promise.all([sender.stop(), receiver.stop()])
      }
    })
  }
})

/** a stand-in for a YamuxStream's window state that records the frames it sends */
function fakeStream (over: Partial<YamuxStreamInternals> = {}): YamuxStreamInternals & { frames: Array<{ flag: number, length: number }> } {
  const frames: Array<{ flag: number, length: number }> = []
  const s = {
    streamId: 1,
    state: StreamState.Established,
    recvWindow: WINDOW,
    recvWindowCapacity: WINDOW,
    maxStreamWindowSize: 16 * 1024 * 1024,
    epochStart: 0,
    getRTT: () => -1,
    getSendFlags () {
      if (s.state === StreamState.Init) { s.state = StreamState.SYNSent; return 1 }
      if (s.state === StreamState.SYNReceived) { s.state = StreamState.Established; return 2 }
      return 0
    },
    sendFrame: (h: { flag: number, length: number }) => { frames.push({ flag: h.flag, length: h.length }); return true },
    sendWindowUpdate: () => {},
    frames,
    ...over
  }
  return s
}

describe('sendThresholdWindowUpdate', () => {
  it('sends nothing until half the window is owed, then returns all of it', () => {
    const s = fakeStream()
    s.recvWindowCapacity = WINDOW - (WINDOW / 2 - 1)
    sendThresholdWindowUpdate(s, 1000)
    assert.deepEqual(s.frames, [])
    s.recvWindowCapacity -= 1
    sendThresholdWindowUpdate(s, 1000)
    assert.deepEqual(s.frames, [{ flag: 0, length: WINDOW / 2 }])
    assert.equal(s.recvWindowCapacity, WINDOW)
  })

  it('always answers a SYN with its ACK, and opens its own stream with a SYN', () => {
    const inbound = fakeStream({ state: StreamState.SYNReceived })
    sendThresholdWindowUpdate(inbound, 0)
    assert.deepEqual(inbound.frames, [{ flag: 2, length: 0 }])
    const outbound = fakeStream({ state: StreamState.Init })
    sendThresholdWindowUpdate(outbound, 0)
    assert.deepEqual(outbound.frames, [{ flag: 1, length: 0 }])
  })

  it('sends nothing while paused and what is owed on resume', () => {
    const s = fakeStream({ state: StreamState.Paused })
    s.recvWindowCapacity = 0
    sendThresholdWindowUpdate(s, 5000)
    assert.deepEqual(s.frames, [])
    assert.equal(s.epochStart, 5000)
    s.state = StreamState.Established
    sendThresholdWindowUpdate(s, 6000)
    assert.deepEqual(s.frames, [{ flag: 0, length: WINDOW }])
  })

  it('grows the window when it was used up within 4 round trips, up to the maximum', () => {
    const s = fakeStream({ getRTT: () => 10, epochStart: 1000, maxStreamWindowSize: 2 * WINDOW })
    s.recvWindowCapacity = 0
    sendThresholdWindowUpdate(s, 1030)
    assert.deepEqual(s.frames, [{ flag: 0, length: 2 * WINDOW }])
    s.recvWindowCapacity = 0
    sendThresholdWindowUpdate(s, 1040)
    assert.deepEqual(s.frames[1], { flag: 0, length: 2 * WINDOW }, 'capped at maxStreamWindowSize')
    s.recvWindowCapacity = WINDOW
    sendThresholdWindowUpdate(s, 5000)
    assert.deepEqual(s.frames[2], { flag: 0, length: WINDOW }, 'slow: not grown')
  })
})

describe('joinWrite', () => {
  it('joins a write of several buffers into one with the same bytes, and leaves large ones', async () => {
    const { Uint8ArrayList } = await import('uint8arraylist')
    const list = new Uint8ArrayList(Uint8Array.of(0, 3), Uint8Array.of(7, 8, 9))
    joinWrite(list)
    assert.equal([...list].length, 1)
    assert.deepEqual(list.subarray(), Uint8Array.of(0, 3, 7, 8, 9))
    const big = new Uint8ArrayList(new Uint8Array(10), new Uint8Array(10))
    joinWrite(big, 15)
    assert.equal([...big].length, 2)
  })
})

describe('Noise packet lengths without an exception per read (quietPacketLengths)', () => {
  const bytes = (...b: number[]): { length: number, get: (i: number) => number } => ({ length: b.length, get: (i) => b[i] })

  it('reads a 2-byte big-endian length, and answers the largest length (not complete yet) with fewer bytes', () => {
    const read = packetLengthOr(4_194_304)
    assert.equal(read(bytes(0x01, 0x02, 0xff)), 0x0102)
    assert.equal(read(bytes(0xff, 0xff)), 65_535)
    assert.equal(read(bytes(0x07)), 4_194_304)
    assert.equal(read(bytes()), 4_194_304)
  })

  it('replaces the reader of a decoder of the expected shape only', () => {
    const conn = { decoder: { lengthDecoder: () => { throw new RangeError('short') }, encodingLength: () => 2, maxDataLength: 1024 } }
    assert.equal(quietPacketLengths(conn), true)
    assert.equal((conn.decoder.lengthDecoder as (d: unknown) => number)(bytes(1)), 1024, "the reader installed answers the largest length")
    assert.equal(quietPacketLengths({ decoder: { lengthDecoder: () => 0, encodingLength: () => 1, maxDataLength: 10 } }), false, 'a varint-prefixed decoder is left alone')
    assert.equal(quietPacketLengths({ stream: {} }), false)
    assert.equal(quietPacketLengths(undefined), false)
  })
})
