import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import {
  decodeGossip, decodeSync, encodeGossip, encodeSync, encodeSyncPayload, FrameAssembler, frameParts, GossipType, HolderRole, joinParts, StateReason, SyncType, toFrames,
  type GossipMessage, type SyncMessage
} from '../../../src/consensus/crdt/codec.ts'
import { MAX_FRAME_BYTES } from '../../../src/consensus/crdt/constants.ts'
import { selectReplicasByHash } from '../../../src/consensus/crdt/placement.ts'

describe('crdt codec', () => {
  it('round-trips every gossip and sync message', () => {
    const gossip: GossipMessage[] = [
      { type: GossipType.Update, update: new Uint8Array([1, 2, 3]) },
      { type: GossipType.Updates, updates: [new Uint8Array([1, 2, 3]), new Uint8Array([4]), new Uint8Array(300).fill(9)] },
      { type: GossipType.State, reason: StateReason.Digest, holder: true, stateVector: new Uint8Array([1, 5, 7]), persisted: new Uint8Array([0]), fingerprint: 0xdeadbeef, role: HolderRole.Member },
      { type: GossipType.State, reason: StateReason.Released, holder: false, stateVector: new Uint8Array([0]), persisted: new Uint8Array([0]), fingerprint: 1, role: HolderRole.Replica },
      { type: GossipType.Holders, holders: ['peer-a', 'peer-b'] }
    ]
    for (const m of gossip) assert.deepEqual(decodeGossip(encodeGossip(m), 1 << 20), m)
    const sync: SyncMessage[] = [
      { type: SyncType.Open, docId: 'agent/c1', hold: true, owner: 'peer-a', policy: 'custom:merge' },
      { type: SyncType.Sync, payload: new Uint8Array([0, 1, 0]) },
      { type: SyncType.Done },
      { type: SyncType.Error, name: 'NotFoundError', message: 'nope' }
    ]
    for (const m of sync) assert.deepEqual(decodeSync(encodeSync(m)), m)
  })

  it('reads messages of the first wire layout: no trailing policy in OPEN, no role in STATE', () => {
    const open = Uint8Array.of(1, 10, 1, 0x61, 1, 1, 0x62)
    assert.deepEqual(decodeSync(open), { type: SyncType.Open, docId: 'a', hold: true, owner: 'b', policy: '' })
    const state = Uint8Array.of(1, 1, 1, 1, 1, 0, 1, 0, 7)
    assert.deepEqual(decodeGossip(state, 100), { type: GossipType.State, reason: StateReason.Digest, holder: true, stateVector: Uint8Array.of(0), persisted: Uint8Array.of(0), fingerprint: 7, role: HolderRole.Unknown })
    // a HOLDERS list longer than allowed, or with an empty id, is refused
    assert.throws(() => decodeGossip(encodeGossip({ type: GossipType.Holders, holders: Array.from({ length: 65 }, (_, i) => `p${i}`) }), 1 << 16), { name: 'InvalidMessageError' })
    assert.throws(() => decodeGossip(encodeGossip({ type: GossipType.Holders, holders: [''] }), 100), { name: 'InvalidMessageError' })
  })

  it('refuses unknown versions, unknown types, truncation and bad doc ids with typed errors', () => {
    const ok = encodeGossip({ type: GossipType.Update, update: new Uint8Array(10) })
    assert.throws(() => decodeGossip(Uint8Array.of(2, 0, 0), 100), { name: 'UnsupportedVersionError' })
    assert.throws(() => decodeGossip(Uint8Array.of(1, 7), 100), { name: 'InvalidMessageError' })
    assert.throws(() => decodeGossip(ok.subarray(0, 5), 100), { name: 'InvalidMessageError' })
    assert.throws(() => decodeGossip(ok, 5), { name: 'MessageTooLargeError' })
    // an UPDATES list claiming more updates than its bytes can hold, or none
    assert.throws(() => decodeGossip(Uint8Array.of(1, 2, 0x90, 0x4e, 1, 0), 100), { name: 'InvalidMessageError' })
    assert.throws(() => decodeGossip(Uint8Array.of(1, 2, 0), 100), { name: 'InvalidMessageError' })
    assert.throws(() => decodeGossip(Uint8Array.of(1, 2, 2, 1, 0), 100), { name: 'InvalidMessageError' })
    assert.throws(() => decodeSync(encodeSync({ type: SyncType.Open, docId: 'has space', hold: false, owner: '' })), { name: 'InvalidMessageError' })
    assert.throws(() => decodeSync(encodeSync({ type: SyncType.Open, docId: 'x'.repeat(201), hold: false, owner: '' })), { name: 'InvalidMessageError' })
  })

  it('splits messages into frames of at most 16 KiB and reassembles them, refusing oversize', () => {
    const message = new Uint8Array(100_000).map((_, i) => i % 251)
    const frames = toFrames(message)
    assert.ok(frames.every(f => f.byteLength <= MAX_FRAME_BYTES))
    assert.equal(frames.length, Math.ceil(100_000 / (MAX_FRAME_BYTES - 1)))
    const asm = new FrameAssembler(200_000)
    const out = frames.map(f => asm.push(f)).filter(x => x != null)
    assert.deepEqual(out, [message])
    assert.deepEqual(toFrames(new Uint8Array(0)).length, 1)
    const small = new FrameAssembler(50_000)
    assert.throws(() => { for (const f of frames) small.push(f) }, { name: 'MessageTooLargeError' })
    assert.throws(() => new FrameAssembler(10).push(new Uint8Array(0)), { name: 'InvalidMessageError' })
    assert.throws(() => new FrameAssembler(10).push(Uint8Array.of(4, 1)), { name: 'InvalidMessageError' })
  })

  it('frames a message given as parts without copying them, at any frame limit, and encodes SYNC payload parts like encodeSync', () => {
    const update = new Uint8Array(70_000).map((_, i) => (i * 7) % 256)
    const header = Uint8Array.of(2, 9, 9)
    const whole = encodeSync({ type: SyncType.Sync, payload: Uint8Array.from([...header, ...update]) })
    const parts = encodeSyncPayload([header, update])
    for (const limit of [2, 100, MAX_FRAME_BYTES, 1 << 20]) {
      const frames = frameParts(parts, limit)
      for (const f of frames) assert.ok(f.reduce((n, p) => n + p.byteLength, 0) <= limit)
      // the update travels as views of its own buffer
      assert.ok(frames.flat().some(p => p.buffer === update.buffer))
      const asm = new FrameAssembler(1 << 20, limit)
      const out = frames.map(f => asm.push(joinParts(f))).filter(x => x != null)
      assert.deepEqual(out, [whole])
    }
    assert.deepEqual(decodeSync(joinParts(parts)), { type: SyncType.Sync, payload: Uint8Array.from([...header, ...update]) })
    assert.throws(() => new FrameAssembler(1 << 20, 100).push(new Uint8Array(101)), { name: 'InvalidMessageError' })
  })

  it('places replicas by a stable hash that moves few docs when a peer leaves', () => {
    const peers = ['p1', 'p2', 'p3', 'p4', 'p5']
    const before = new Map<string, string[]>()
    for (let i = 0; i < 200; i++) before.set(`d${i}`, selectReplicasByHash(`d${i}`, peers, 2))
    assert.deepEqual(selectReplicasByHash('d1', [...peers].reverse(), 2), before.get('d1'))
    let moved = 0
    for (const [doc, holders] of before) {
      const after = selectReplicasByHash(doc, peers.filter(p => p !== 'p3'), 2)
      if (!holders.includes('p3')) assert.deepEqual(after, holders)
      else moved++
    }
    assert.ok(moved > 0 && moved < 200)
  })
})
