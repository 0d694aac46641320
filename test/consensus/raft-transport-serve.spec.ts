/**
 * The Raft transport reading a peer's stream: frames split across chunks or packed in one, a
 * stream that does not start with a hello or carries garbage (aborted, the next one served), a
 * peer of another group, and the remote closing its end.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { encodeFrame } from '../../src/messaging/framing.ts'
import { encodeHello, encodeMessage, packMessages } from '../../src/consensus/raft-wire.ts'
import { MAX_RAFT_FRAME_BYTES } from '../../src/consensus/constants.ts'
import { newMessage } from '../../src/consensus/raft/index.ts'
import { A, B, FakeNet, side, until } from './raft-transport-fakes.ts'
import type { FakeStream, Side } from './raft-transport-fakes.ts'

const MsgHeartbeat = 11
const frame = (body: Uint8Array): Uint8Array => encodeFrame(body, { maxFrameBytes: MAX_RAFT_FRAME_BYTES })
const messages = (...terms: number[]): Uint8Array => frame(packMessages(terms.map(t => encodeMessage(newMessage(MsgHeartbeat, B, A, t)))))

/** runs `test` against B's transport on a fresh net, stopping it after */
async function withB (test: (net: FakeNet, b: Side) => Promise<void>): Promise<void> {
  const net = new FakeNet()
  const b = await side(net, B)
  try {
    await test(net, b)
  } finally {
    await b.transport.stop()
  }
}

/** a raw stream from A to B's transport, as A's libp2p would open it, and B's end of it */
async function rawStream (net: FakeNet): Promise<FakeStream & { theirs: FakeStream }> {
  const mine = await net.libp2p(A).dialProtocol({ toString: () => B }, '/agentmesh/raft/1.0.0') as FakeStream
  return Object.assign(mine, { theirs: net.accepted.get(`${A}>${B}`)! })
}

describe('raft transport: reading a peer\'s stream', () => {
  it('steps every message in order, whether a frame comes in pieces or frames share a chunk', async () => {
    await withB(async (net, b) => {
      const s = await rawStream(net)
      const bytes = [...frame(encodeHello('g')), ...messages(1, 2), ...messages(3)]
      // one byte at a time, then the rest in one chunk
      for (const byte of bytes.slice(0, 40)) s.send(new Uint8Array([byte]))
      s.send(new Uint8Array(bytes.slice(40)))
      await until('three messages', () => b.received.length === 3)
      assert.deepEqual(b.received.map(m => m.term), [1, 2, 3])
      assert.equal(s.theirs.status, 'open')
    })
  })

  it('aborts a stream without a hello or with garbage, and serves the peer\'s next stream', async () => {
    await withB(async (net, b) => {
      const noHello = await rawStream(net)
      noHello.send(messages(1))
      await until('the stream without a hello to be aborted', () => noHello.theirs.status !== 'open')

      const garbage = await rawStream(net)
      garbage.send(frame(encodeHello('g')))
      garbage.send(frame(new Uint8Array([0xff, 0xfe, 0xfd, 0x00, 0x01])))
      await until('the stream with garbage to be aborted', () => garbage.theirs.status !== 'open')

      const good = await rawStream(net)
      good.send(frame(encodeHello('g')))
      good.send(messages(7))
      await until('the next stream to be served', () => b.received.length === 1)
      assert.equal(b.received[0].term, 7)
    })
  })

  it('refuses a stream from a peer of another raft group', async () => {
    await withB(async (net, b) => {
      const s = await rawStream(net)
      s.send(frame(encodeHello('another-group')))
      s.send(messages(1))
      await until('the stream to be aborted', () => s.theirs.status !== 'open')
      assert.equal(b.received.length, 0)
    })
  })

  it('closes its end once the peer closes its own, after stepping what came before', async () => {
    await withB(async (net, b) => {
      const s = await rawStream(net)
      s.send(frame(encodeHello('g')))
      s.send(messages(4))
      await s.close()
      await until('B to close its end', () => s.theirs.status === 'closed')
      assert.deepEqual(b.received.map(m => m.term), [4])
    })
  })
})
