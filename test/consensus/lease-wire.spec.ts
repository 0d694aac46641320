/**
 * The lease questions' context bytes (lease-wire.ts): round trips, told apart from a read's 8-byte
 * context, and garbage refused with typed decode errors only (fixed seed).
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { decodeLeaseContext, encodeLeaseAnswer, encodeLeaseAsk, isLeaseContext, leaseAskKindOf, MAX_LEASE_CONTEXT_BYTES } from '../../src/consensus/lease-wire.ts'
import type { LeaseAnswer, LeaseAsk } from '../../src/consensus/lease-wire.ts'
import { EntryType, MessageType, newMessage } from '../../src/consensus/raft/index.ts'

const TYPED = ['InvalidMessageError', 'MessageTooLargeError', 'UnsupportedVersionError']

describe('lease wire', () => {
  it('round-trips asks and answers of every outcome, at the largest numbers within the size bound', () => {
    const big = Number.MAX_SAFE_INTEGER
    const asks: LeaseAsk[] = [{ kind: 'keepalive', nonce: 0, seq: 0, lease: 1 }, { kind: 'ttl', nonce: 0xffffffff, seq: big, lease: big }]
    for (const ask of asks) {
      assert.deepEqual(decodeLeaseContext(encodeLeaseAsk(ask)), { ask })
      const answers: LeaseAnswer[] = [
        { ...ask, outcome: { status: 'ok', ttlMs: big, expiresAtMs: big, remainingMs: big } },
        { ...ask, outcome: { status: 'not-found' } },
        { ...ask, outcome: { status: 'retry' } }
      ]
      for (const answer of answers) {
        const bytes = encodeLeaseAnswer(answer)
        assert.ok(bytes.byteLength <= MAX_LEASE_CONTEXT_BYTES)
        assert.ok(isLeaseContext(bytes))
        assert.deepEqual(decodeLeaseContext(bytes), { answer })
      }
    }
  })

  it('the 8-byte context of a read is never taken for a lease question, even with the same first bytes', () => {
    const read = Uint8Array.of(0xa7, 0x1e, 1, 1, 0, 0, 0, 7)
    assert.equal(isLeaseContext(read), false)
    const m = newMessage(MessageType.ReadIndex, 'b', 'a', 0)
    m.entries = [{ term: 0, index: 0, type: EntryType.Normal, data: read }]
    assert.equal(leaseAskKindOf(m), undefined)
    m.entries = [{ term: 0, index: 0, type: EntryType.Normal, data: encodeLeaseAsk({ kind: 'keepalive', nonce: 1, seq: 2, lease: 3 }) }]
    assert.equal(leaseAskKindOf(m), 'keepalive')
    m.entries = [{ term: 0, index: 0, type: EntryType.Normal, data: encodeLeaseAsk({ kind: 'ttl', nonce: 1, seq: 2, lease: 3 }) }]
    assert.equal(leaseAskKindOf(m), 'ttl')
    // an answer is no ask
    m.entries = [{ term: 0, index: 0, type: EntryType.Normal, data: encodeLeaseAnswer({ kind: 'keepalive', nonce: 1, seq: 2, lease: 3, outcome: { status: 'retry' } }) }]
    assert.equal(leaseAskKindOf(m), undefined)
  })

  it('refuses garbage with typed decode errors only: unknown kinds, outcomes, versions, truncation, trailing bytes', () => {
    const ask = encodeLeaseAsk({ kind: 'keepalive', nonce: 5, seq: 6, lease: 7 })
    const bad = [
      Uint8Array.of(0xa7, 0x1e, 1, 3, 0, 0, 0, 0, 1, 1),
      Uint8Array.of(0xa7, 0x1e, 2, 1, 0, 0, 0, 0, 1, 1),
      Uint8Array.of(0xa7, 0x1e, 1, 0x81, 0, 0, 0, 0, 1, 1, 9),
      ask.slice(0, ask.byteLength - 1),
      Uint8Array.of(...ask, 0),
      new Uint8Array(MAX_LEASE_CONTEXT_BYTES + 1).fill(0xa7)
    ]
    for (const b of bad) assert.throws(() => decodeLeaseContext(b), (e: Error) => TYPED.includes(e.name))
    fc.assert(fc.property(fc.uint8Array({ maxLength: 80 }), bytes => {
      const framed = Uint8Array.of(0xa7, 0x1e, 1, ...bytes)
      try {
        decodeLeaseContext(framed)
      } catch (e) {
        assert.ok(TYPED.includes((e as Error).name), (e as Error).name)
      }
    }), { seed: 4242, numRuns: 2_000 })
  })
})
