import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { TopicReplay, packEnvelopes, readResendRequest, resendRequestPayload, unpackEnvelopes } from '../../src/messaging/topic-replay.ts'
import { GAP_REPAIR_MAX_MESSAGES } from '../../src/messaging/constants.ts'
import { thrownName } from './helpers.ts'

const wire = (n: number, size = 10): Uint8Array => new Uint8Array(size).fill(n % 256)

describe('TopicReplay', () => {
  it('resends a kept range, within the per-topic count bound', () => {
    const r = new TopicReplay(3, 1_000_000)
    for (let seq = 1; seq <= 5; seq++) r.remember('t', seq, wire(seq))
    assert.deepEqual(r.range({ topic: 't', fromSeq: 1, toSeq: 5 }), [wire(3), wire(4), wire(5)])
    assert.deepEqual(r.range({ topic: 'other', fromSeq: 1, toSeq: 5 }), [])
  })

  it('forgets the oldest publications beyond the byte bound, across topics', () => {
    const r = new TopicReplay(100, 25)
    r.remember('a', 1, wire(1)); r.remember('b', 1, wire(2)); r.remember('a', 2, wire(3))
    assert.deepEqual(r.range({ topic: 'a', fromSeq: 1, toSeq: 2 }), [wire(3)])
    assert.deepEqual(r.range({ topic: 'b', fromSeq: 1, toSeq: 1 }), [wire(2)])
  })

  it('caps one reply at GAP_REPAIR_MAX_MESSAGES', () => {
    const r = new TopicReplay(10_000, 10_000_000)
    for (let seq = 1; seq <= 1000; seq++) r.remember('t', seq, wire(seq, 1))
    assert.equal(r.range({ topic: 't', fromSeq: 1, toSeq: 1000 }).length, GAP_REPAIR_MAX_MESSAGES)
  })
})

describe('resend wire helpers', () => {
  it('round-trip requests and packed envelopes, refusing malformed ones', () => {
    const req = { topic: 'agentmesh/m/v1/t/x', fromSeq: 2, toSeq: 4 }
    assert.deepEqual(readResendRequest(resendRequestPayload(req)), req)
    const bad = { contentType: 'x', payload: new TextEncoder().encode('{"topic":"t","fromSeq":5,"toSeq":1}') }
    assert.equal(thrownName(() => readResendRequest(bad)), 'InvalidMessageError')
    const wires = [wire(1), wire(2, 300), new Uint8Array(0)]
    assert.deepEqual(unpackEnvelopes(packEnvelopes(wires)), wires)
    assert.equal(thrownName(() => unpackEnvelopes(packEnvelopes(wires).subarray(0, 20))), 'InvalidMessageError')
    const tooMany = packEnvelopes(Array.from({ length: GAP_REPAIR_MAX_MESSAGES + 1 }, () => wire(0, 1)))
    assert.equal(thrownName(() => unpackEnvelopes(tooMany)), 'InvalidMessageError')
  })
})
