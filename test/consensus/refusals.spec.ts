/**
 * Refusals on the Raft protocol: the frame (bounded, versioned, strictly decoded), the transport
 * (a refusal goes back on the refused peer's own stream, rate-limited; a malformed one is
 * ignored without harm) and what a peer believes of one (only its leader, only about its own
 * requests). The credentialed-mesh spec (refusals-mesh.spec.ts) runs the whole path.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { encodeFrame } from '../../src/messaging/framing.ts'
import {
  MAX_RAFT_REFUSAL_REASON_BYTES, RAFT_REFUSAL_BURST, RAFT_REFUSAL_MEMORY_MS, RAFT_WIRE_VERSION
} from '../../src/consensus/constants.ts'
import { decodeRaftFrame, decodeRefusalFrame, encodeRefusal, FRAME_REFUSAL } from '../../src/consensus/raft-wire.ts'
import type { RaftRefusal, StrongOperation } from '../../src/consensus/raft-wire.ts'
import { A, B, FakeNet, side, until } from './raft-transport-fakes.ts'
import { ReceivedRefusals } from '../../src/consensus/refusals.ts'
import { newMessage } from '../../src/consensus/raft/index.ts'
import { ManualClock } from '../../src/util/clock.ts'
import { componentLogger } from '../../src/util/logger.ts'

const MsgHeartbeatResp = 12
const utf8 = new TextEncoder()

function frame (...bytes: number[]): Uint8Array {
  return new Uint8Array(bytes)
}

describe('the refusal frame', () => {
  it('round-trips each subject; a long reason is cut to the bound and control characters become spaces', () => {
    for (const subject of ['proposal', 'read', 'raft'] as const) {
      assert.deepEqual(decodeRefusalFrame(encodeRefusal({ subject, reason: 'no credential' })), { subject, reason: 'no credential' })
    }
    const long = decodeRefusalFrame(encodeRefusal({ subject: 'proposal', reason: 'é'.repeat(4 * MAX_RAFT_REFUSAL_REASON_BYTES) }))
    assert.ok(utf8.encode(long.reason).byteLength <= MAX_RAFT_REFUSAL_REASON_BYTES)
    assert.ok(long.reason.endsWith('...') && long.reason.startsWith('éé'))
    assert.equal(decodeRefusalFrame(encodeRefusal({ subject: 'read', reason: 'a\nforged log line\u0000' })).reason, 'a forged log line ')
  })

  it('refuses malformed, unknown and oversized refusals with typed errors', () => {
    const reason = (s: string): number[] => [...utf8.encode(s)]
    const cases: Array<[Uint8Array, string]> = [
      [frame(), 'InvalidMessageError'],
      [frame(RAFT_WIRE_VERSION + 1, FRAME_REFUSAL, 1, 1, 120), 'UnsupportedVersionError'],
      [frame(RAFT_WIRE_VERSION, 2, 0), 'InvalidMessageError'], // a messages frame: never sent this way
      [frame(RAFT_WIRE_VERSION, FRAME_REFUSAL, 0, 1, 120), 'InvalidMessageError'], // subject 0
      [frame(RAFT_WIRE_VERSION, FRAME_REFUSAL, 4, 1, 120), 'InvalidMessageError'], // subject 4
      [frame(RAFT_WIRE_VERSION, FRAME_REFUSAL, 1, 0), 'InvalidMessageError'], // empty reason
      [frame(RAFT_WIRE_VERSION, FRAME_REFUSAL, 1, 3, ...reason('a\nb')), 'InvalidMessageError'], // control character
      [frame(RAFT_WIRE_VERSION, FRAME_REFUSAL, 1, 5, 120), 'InvalidMessageError'], // truncated
      [frame(RAFT_WIRE_VERSION, FRAME_REFUSAL, 1, 1, 120, 0), 'InvalidMessageError'], // trailing byte
      [frame(RAFT_WIRE_VERSION, FRAME_REFUSAL, 1, 2, 0xc3, 0x28), 'InvalidMessageError'], // not UTF-8
      [frame(RAFT_WIRE_VERSION, FRAME_REFUSAL, 1, 0xa0, 0x20, ...new Array(4096).fill(120)), 'MessageTooLargeError'],
      [new Uint8Array(64 * 1024), 'MessageTooLargeError']
    ]
    for (const [bytes, name] of cases) assert.throws(() => decodeRefusalFrame(bytes), { name }, `${bytes.slice(0, 6).join(',')}`)
    // and a refusal sent the wrong way (on a stream to its sender) is refused by the frame decoder
    assert.throws(() => decodeRaftFrame(encodeRefusal({ subject: 'proposal', reason: 'x' }), 'a', 'b'), { name: 'InvalidMessageError' })
  })
})

describe('refusals on the raft transport', () => {
  it('a refusal goes back on the stream the refused peer opened, at most the burst of them at once', async () => {
    const net = new FakeNet()
    const clock = new ManualClock(1_000)
    const [a, b] = [await side(net, A), await side(net, B, clock)]
    try {
      a.transport.send(B, [newMessage(MsgHeartbeatResp, B, A, 1)])
      await until('B to receive from A', () => b.received.length === 1)
      let made = 0
      const make = async (): Promise<RaftRefusal> => { made++; return { subject: 'proposal', reason: `${A} presents no credential` } }
      const sent: boolean[] = []
      for (let i = 0; i < 3 * RAFT_REFUSAL_BURST; i++) sent.push(b.transport.refuse(A, make))
      assert.equal(sent.filter(x => x).length, RAFT_REFUSAL_BURST, 'refusals beyond the burst are dropped')
      assert.equal(made, RAFT_REFUSAL_BURST, 'a dropped refusal is not even worked out')
      await until('A to read the refusals', () => a.refusals.length === RAFT_REFUSAL_BURST)
      assert.deepEqual(a.refusals[0], { peer: B, refusal: { subject: 'proposal', reason: `${A} presents no credential` } })
      // the bucket refills with time
      clock.advance(1_000)
      assert.equal(b.transport.refuse(A, make), true)
      // a refusal worked out as none (the credential checked out after all) sends nothing
      clock.advance(1_000)
      assert.equal(b.transport.refuse(A, async () => undefined), true)
      await until('the last refusal', () => a.refusals.length === RAFT_REFUSAL_BURST + 1)
      // nothing else arrives, and the stream still carries A's messages
      a.transport.send(B, [newMessage(MsgHeartbeatResp, B, A, 1)])
      await until('B to receive again', () => b.received.length === 2)
      assert.equal(a.refusals.length, RAFT_REFUSAL_BURST + 1)
      // no refusal to a peer that never opened a stream here
      assert.equal(a.transport.refuse(B, make), true)
      await new Promise(resolve => setTimeout(resolve, 10))
      assert.equal(b.refusals.length, 0)
    } finally {
      await a.transport.stop()
      await b.transport.stop()
    }
  })

  it('garbage written back on our stream is ignored: no refusal believed, nothing thrown, our messages still go out', async () => {
    const net = new FakeNet()
    const [a, b] = [await side(net, A), await side(net, B)]
    try {
      a.transport.send(B, [newMessage(MsgHeartbeatResp, B, A, 1)])
      await until('B to receive from A', () => b.received.length === 1)
      const back = net.accepted.get(`${A}>${B}`)!
      back.send(encodeFrame(frame(RAFT_WIRE_VERSION, FRAME_REFUSAL, 9, 1, 120))) // unknown subject
      back.send(encodeFrame(encodeRefusal({ subject: 'read', reason: 'after garbage' }))) // not read: the rest is ignored
      a.transport.send(B, [newMessage(MsgHeartbeatResp, B, A, 2)])
      await until('B to receive again', () => b.received.length === 2)
      await new Promise(resolve => setTimeout(resolve, 10))
      assert.deepEqual(a.refusals, [])
    } finally {
      await a.transport.stop()
      await b.transport.stop()
    }
  })
})

describe('what a peer believes of a refusal', () => {
  function driverStub (leader: string): { leader: string, rejected: Array<{ subject: string, err: Error }>, rejectRefused: (subject: StrongOperation, err: Error) => void } {
    const d = { leader, rejected: [] as Array<{ subject: string, err: Error }>, rejectRefused: (subject: StrongOperation, err: Error) => { d.rejected.push({ subject, err }) } }
    return d
  }

  it('from its leader: the waiting callers fail with UnauthorizedError naming the leader and why, and new ones for a while', () => {
    const clock = new ManualClock(0)
    const r = new ReceivedRefusals(clock, componentLogger('test:refusals'))
    const d = driverStub('L')
    r.received('L', { subject: 'proposal', reason: 'P presents no credential' }, d)
    assert.equal(d.rejected.length, 1)
    assert.equal(d.rejected[0].subject, 'proposal')
    assert.equal(d.rejected[0].err.name, 'UnauthorizedError')
    assert.match(d.rejected[0].err.message, /raft leader L refuses this peer's KV proposals: P presents no credential/)
    assert.equal(r.current('L', 'proposal')?.name, 'UnauthorizedError')
    assert.equal(r.current('L', 'read'), undefined, 'a refusal of proposals says nothing about reads')
    r.received('L', { subject: 'read', reason: 'P may not read' }, d)
    assert.equal(d.rejected[1].subject, 'read')
    assert.match(r.current('L', 'read')?.message ?? '', /refuses this peer's linearizable reads: P may not read/)
    assert.match(r.current('L', 'proposal')?.message ?? '', /refuses this peer's KV proposals: P presents no credential/,
      'a later refusal of reads does not stand in for the refusal of proposals')
    assert.equal(r.current('M', 'proposal'), undefined, 'another leader is asked afresh')
    clock.advance(RAFT_REFUSAL_MEMORY_MS)
    assert.equal(r.current('L', 'proposal'), undefined, 'after a while the leader is asked again')
    assert.equal(r.current('L', 'read'), undefined)
  })

  it('a refusal of reads alone does not fail proposals (each kind is remembered apart)', () => {
    const r = new ReceivedRefusals(new ManualClock(0), componentLogger('test:refusals'))
    r.received('L', { subject: 'read', reason: 'P may not read' }, driverStub('L'))
    assert.equal(r.current('L', 'proposal'), undefined)
    assert.equal(r.current('L', 'read')?.name, 'UnauthorizedError')
  })

  it('from anyone else, or about voter messages, nothing changes', () => {
    const r = new ReceivedRefusals(new ManualClock(0), componentLogger('test:refusals'))
    const d = driverStub('L')
    r.received('F', { subject: 'proposal', reason: 'forged' }, d)
    r.received('F', { subject: 'read', reason: 'forged' }, d)
    r.received('L', { subject: 'raft', reason: 'not a voter' }, d)
    r.received('X', { subject: 'proposal', reason: 'forged' }, driverStub(''))
    assert.deepEqual(d.rejected, [])
    for (const subject of ['proposal', 'read'] as const) {
      assert.equal(r.current('L', subject), undefined)
      assert.equal(r.current('F', subject), undefined)
    }
  })
})
