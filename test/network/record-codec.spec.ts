import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import * as encoding from 'lib0/encoding'
import { decodeMembershipMessage, encodeMembershipMessage, MembershipMessageType } from '../../src/network/record-codec.ts'
import type { NodeRecord } from '../../src/network/types.ts'

const TYPED = new Set(['InvalidMessageError', 'MessageTooLargeError', 'UnsupportedVersionError', 'UnauthorizedError'])

async function identity (): Promise<{ key: Awaited<ReturnType<typeof generateKeyPair>>, id: string }> {
  const key = await generateKeyPair('Ed25519')
  return { key, id: peerIdFromPrivateKey(key).toString() }
}

function record (peerId: string, extra: Partial<NodeRecord> = {}): NodeRecord {
  return {
    peerId, mesh: 'm', role: 'node', raft: 'voter', addrs: ['/ip4/127.0.0.1/tcp/1'], capabilities: { cpu: 2, memoryMb: 64, tags: ['llm'] },
    load: { agents: 1, cpu: 0.5, memoryMb: 16, rssMb: 80, eventLoopLagMs: 2 }, links: [{ peer: 'x', transport: 'tcp' }], version: '0.1.0',
    incarnation: 5, seq: 7, ts: 1, heartbeatMs: 300, hidden: false, ext: { kinds: ['echo'] }, ...extra
  }
}

describe('membership message codec', () => {
  it('round-trips a signed record, a leave and an obituary', async () => {
    const a = await identity()
    const r = record(a.id)
    const got = await decodeMembershipMessage(await encodeMembershipMessage({ type: MembershipMessageType.Record, record: r }, a.key), a.id, 'm')
    assert.deepEqual(got, { type: MembershipMessageType.Record, author: a.id, record: r })
    const leave = await decodeMembershipMessage(await encodeMembershipMessage({ type: MembershipMessageType.Leave, peerId: a.id, incarnation: 5 }, a.key), a.id, 'm')
    assert.equal(leave.type, MembershipMessageType.Leave)
    const obit = await decodeMembershipMessage(await encodeMembershipMessage({ type: MembershipMessageType.Failed, subject: 'someone', incarnation: 1, seq: 9 }, a.key), a.id, 'm')
    assert.deepEqual(obit, { type: MembershipMessageType.Failed, author: a.id, subject: 'someone', incarnation: 1, seq: 9 })
  })

  it('round-trips a heartbeat and a record request; a heartbeat is a fraction of a record', async () => {
    const a = await identity()
    const hb = { peerId: a.id, incarnation: 5, seq: 9, recordSeq: 7, ts: 2, load: { agents: 1, cpu: 0.5, memoryMb: 16, rssMb: 80, eventLoopLagMs: 2 } }
    const bytes = await encodeMembershipMessage({ type: MembershipMessageType.Heartbeat, heartbeat: hb }, a.key)
    assert.deepEqual(await decodeMembershipMessage(bytes, a.id, 'm'), { type: MembershipMessageType.Heartbeat, author: a.id, heartbeat: hb })
    const full = await encodeMembershipMessage({ type: MembershipMessageType.Record, record: record(a.id, { addrs: Array.from({ length: 4 }, (_, i) => `/ip4/127.0.0.1/tcp/${9000 + i}/ws/p2p/${a.id}`), links: Array.from({ length: 5 }, () => ({ peer: a.id, transport: 'webrtc' as const })) }) }, a.key)
    assert.ok(bytes.byteLength * 3 < full.byteLength, `heartbeat ${bytes.byteLength} B, record ${full.byteLength} B`)
    const want = await decodeMembershipMessage(await encodeMembershipMessage({ type: MembershipMessageType.Wanted, subjects: ['x', 'y'] }, a.key), a.id, 'm')
    assert.deepEqual(want, { type: MembershipMessageType.Wanted, author: a.id, subjects: ['x', 'y'] })
  })

  it('refuses a heartbeat published by another peer, one naming a later record, and empty or oversized record requests', async () => {
    const a = await identity(); const b = await identity()
    const hb = { peerId: a.id, incarnation: 5, seq: 9, recordSeq: 7, ts: 2, load: { agents: 1, cpu: 0.5, memoryMb: 16, rssMb: 80, eventLoopLagMs: 2 } }
    const bytes = await encodeMembershipMessage({ type: MembershipMessageType.Heartbeat, heartbeat: hb }, a.key)
    await assert.rejects(decodeMembershipMessage(bytes, b.id, 'm'), { name: 'UnauthorizedError' })
    const forged = await encodeMembershipMessage({ type: MembershipMessageType.Heartbeat, heartbeat: hb }, b.key)
    await assert.rejects(decodeMembershipMessage(forged, a.id, 'm'), { name: 'UnauthorizedError' })
    const ahead = await encodeMembershipMessage({ type: MembershipMessageType.Heartbeat, heartbeat: { ...hb, recordSeq: 10 } }, a.key)
    await assert.rejects(decodeMembershipMessage(ahead, a.id, 'm'), { name: 'InvalidMessageError' })
    const noLoad = await encodeMembershipMessage({ type: MembershipMessageType.Heartbeat, heartbeat: { ...hb, load: undefined as any } }, a.key)
    await assert.rejects(decodeMembershipMessage(noLoad, a.id, 'm'), { name: 'InvalidMessageError' })
    await assert.rejects(encodeMembershipMessage({ type: MembershipMessageType.Wanted, subjects: [] }, a.key), { name: 'InvalidArgumentError' })
    await assert.rejects(encodeMembershipMessage({ type: MembershipMessageType.Wanted, subjects: Array.from({ length: 65 }, (_, i) => `p${i}`) }, a.key), { name: 'InvalidArgumentError' })
    // written by hand, as a faulty peer would: an empty list is refused on the way in too
    const enc = encoding.createEncoder()
    encoding.writeVarUint(enc, 2); encoding.writeVarUint(enc, 0); encoding.writeVarUint(enc, MembershipMessageType.Wanted)
    encoding.writeVarUint8Array(enc, new TextEncoder().encode('{"subjects":[]}')); encoding.writeVarUint8Array(enc, new Uint8Array(64))
    await assert.rejects(decodeMembershipMessage(encoding.toUint8Array(enc), a.id, 'm'), { name: 'InvalidMessageError' })
  })

  it('refuses a record published by another peer, one signed by another key, and one for another mesh', async () => {
    const a = await identity(); const b = await identity()
    const bytes = await encodeMembershipMessage({ type: MembershipMessageType.Record, record: record(a.id) }, a.key)
    await assert.rejects(decodeMembershipMessage(bytes, b.id, 'm'), { name: 'UnauthorizedError' })
    const forged = await encodeMembershipMessage({ type: MembershipMessageType.Record, record: record(a.id) }, b.key)
    await assert.rejects(decodeMembershipMessage(forged, a.id, 'm'), { name: 'UnauthorizedError' })
    await assert.rejects(decodeMembershipMessage(bytes, a.id, 'other'), { name: 'InvalidMessageError' })
  })

  it('refuses an unknown major version, bad fields and oversized messages with typed errors', async () => {
    const a = await identity()
    const enc = encoding.createEncoder()
    encoding.writeVarUint(enc, 3); encoding.writeVarUint(enc, 0); encoding.writeVarUint(enc, 1)
    encoding.writeVarUint8Array(enc, new TextEncoder().encode('{}')); encoding.writeVarUint8Array(enc, new Uint8Array(64))
    await assert.rejects(decodeMembershipMessage(encoding.toUint8Array(enc), a.id, 'm'), { name: 'UnsupportedVersionError' })
    const badRole = await encodeMembershipMessage({ type: MembershipMessageType.Record, record: record(a.id, { role: 'king' as any }) }, a.key)
    await assert.rejects(decodeMembershipMessage(badRole, a.id, 'm'), { name: 'InvalidMessageError' })
    await assert.rejects(decodeMembershipMessage(new Uint8Array(40_000), a.id, 'm'), { name: 'MessageTooLargeError' })
    await assert.rejects(encodeMembershipMessage({ type: MembershipMessageType.Record, record: record(a.id, { ext: { big: 'x'.repeat(40_000) } }) }, a.key), { name: 'MessageTooLargeError' })
  })

  it('on random and mutated bytes throws only typed errors', async () => {
    const a = await identity()
    const good = await encodeMembershipMessage({ type: MembershipMessageType.Record, record: record(a.id) }, a.key)
    const beat = await encodeMembershipMessage({ type: MembershipMessageType.Heartbeat, heartbeat: { peerId: a.id, incarnation: 5, seq: 9, recordSeq: 7, ts: 2, load: record(a.id).load } }, a.key)
    await fc.assert(fc.asyncProperty(
      fc.oneof(
        fc.tuple(fc.nat(beat.length - 1), fc.integer({ min: 1, max: 255 })).map(([i, x]) => { const m = beat.slice(); m[i] ^= x; return m }),
        fc.uint8Array({ maxLength: 512 }),
        fc.tuple(fc.nat(good.length - 1), fc.integer({ min: 1, max: 255 })).map(([i, x]) => { const m = good.slice(); m[i] ^= x; return m }),
        fc.nat(good.length).map(n => good.slice(0, n))
      ),
      async (bytes) => {
        try {
          await decodeMembershipMessage(bytes, a.id, 'm')
        } catch (err) {
          assert.ok(TYPED.has((err as Error).name), `untyped error ${(err as Error).name}: ${(err as Error).message}`)
        }
      }), { numRuns: 1500, seed: 8 })
  })
})
