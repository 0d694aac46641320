/**
 * expire-leases in the state machine: the form a leader proposes now names its leases (whatever
 * their replicated expiry says: renewals live on the leader, lease-renewals.ts), and the older
 * form without names, already in logs and snapshots, still applies by the old rule. Codec: the old
 * bytes still decode to the old form.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { KvStateMachine, decodeCommand, encodeCommand, unwrapResult, MAX_EXPIRE_LEASES_PER_COMMAND } from '../../src/consensus/kv/index.ts'
import type { KvCommand, KvResult } from '../../src/consensus/kv/index.ts'

const enc = (s: string): Uint8Array => new TextEncoder().encode(s)

function replica (): { sm: KvStateMachine, run: (c: KvCommand) => KvResult } {
  const sm = new KvStateMachine()
  let index = 0
  // through the codec, as every entry is applied
  return { sm, run: (c) => sm.applyEncoded(++index, encodeCommand(c))! }
}

function grant (run: (c: KvCommand) => KvResult, ttlMs: number, nowMs: number): number {
  const r = unwrapResult(run({ type: 'lease-grant', ttlMs, nowMs }))
  assert.ok(r.type === 'lease-grant')
  return r.lease
}

describe('expire-leases naming its leases', () => {
  it('deletes exactly the named leases that exist, all their keys in one revision, whatever their replicated expiry', () => {
    const { sm, run } = replica()
    const a = grant(run, 1000, 10_000)
    const b = grant(run, 1000, 10_000)
    const c = grant(run, 1000, 10_000)
    run({ type: 'put', key: 'a/1', value: enc('1'), lease: a })
    run({ type: 'put', key: 'a/2', value: enc('2'), lease: a })
    run({ type: 'put', key: 'b/1', value: enc('1'), lease: b })
    run({ type: 'put', key: 'c/1', value: enc('1'), lease: c })
    run({ type: 'put', key: 'free', value: enc('f') })
    const rev = sm.revision
    // the replicated expiries (11_000) are not due at 10_500: the leader's names decide; 999 never existed, b is named twice
    const r = unwrapResult(run({ type: 'expire-leases', nowMs: 10_500, leases: [b, 999, a, b] }))
    assert.deepEqual(r, { type: 'expire-leases', revision: rev + 1, expired: [a, b] })
    assert.equal(sm.revision, rev + 1, 'one revision for every key deleted')
    assert.deepEqual(sm.range('').kvs.map(kv => kv.key), ['c/1', 'free'])
    assert.deepEqual(sm.leases().map(l => l.id), [c])
    // nothing named exists any more: nothing changes, not even the revision
    assert.deepEqual(unwrapResult(run({ type: 'expire-leases', nowMs: 20_000, leases: [a, b] })), { type: 'expire-leases', revision: rev + 1, expired: [] })
    assert.deepEqual(unwrapResult(run({ type: 'expire-leases', nowMs: 20_000, leases: [] })), { type: 'expire-leases', revision: rev + 1, expired: [] })
    assert.deepEqual(sm.leases().map(l => l.id), [c], 'c is past its replicated expiry but was not named')
    // c, named now, goes with its key in a revision of its own
    assert.deepEqual(unwrapResult(run({ type: 'expire-leases', nowMs: 20_000, leases: [c] })).type, 'expire-leases')
    assert.equal(sm.get('c/1'), undefined)
    assert.equal(sm.revision, rev + 2)
  })

  it('the older form (no names) still expires by the replicated expiries, one revision per lease', () => {
    const { sm, run } = replica()
    const a = grant(run, 1000, 10_000)
    const b = grant(run, 2000, 10_000)
    const c = grant(run, 5000, 10_000)
    run({ type: 'put', key: 'a', value: enc('1'), lease: a })
    run({ type: 'put', key: 'b', value: enc('1'), lease: b })
    run({ type: 'put', key: 'c', value: enc('1'), lease: c })
    const rev = sm.revision
    const r = unwrapResult(run({ type: 'expire-leases', nowMs: 12_000 }))
    assert.deepEqual(r, { type: 'expire-leases', revision: rev + 2, expired: [a, b] })
    assert.deepEqual(sm.range('').kvs.map(kv => kv.key), ['c'])
    // old renewal entries (in logs written before renewals stayed on the leader) still apply
    const ka = unwrapResult(run({ type: 'lease-keepalive', lease: c, nowMs: 14_000 }))
    assert.deepEqual(ka, { type: 'lease-keepalive', lease: c, ttlMs: 5000, expiresAtMs: 19_000 })
  })

  it('decodes the bytes of an older entry (no names) to the older form, and round-trips the new one', () => {
    // [version 1, tag 10 = expire-leases, nowMs 11_000 as a varuint]
    const old = Uint8Array.of(1, 10, 0xf8, 0x55)
    assert.deepEqual(decodeCommand(old), { type: 'expire-leases', nowMs: 11_000 })
    assert.deepEqual(encodeCommand({ type: 'expire-leases', nowMs: 11_000 }), old)
    const named = encodeCommand({ type: 'expire-leases', nowMs: 11_000, leases: [3, 300] })
    assert.deepEqual(named, Uint8Array.of(1, 10, 0xf8, 0x55, 2, 3, 0xac, 0x02))
    assert.deepEqual(decodeCommand(named), { type: 'expire-leases', nowMs: 11_000, leases: [3, 300] })
    assert.deepEqual(decodeCommand(encodeCommand({ type: 'expire-leases', nowMs: 5, leases: [] })), { type: 'expire-leases', nowMs: 5, leases: [] })
  })

  it('refuses malformed names: zero ids, too many, truncated lists', () => {
    assert.throws(() => encodeCommand({ type: 'expire-leases', nowMs: 1, leases: [0] }), { name: 'InvalidArgumentError' })
    assert.throws(() => encodeCommand({ type: 'expire-leases', nowMs: 1, leases: [1.5] }), { name: 'InvalidArgumentError' })
    const many = Array.from({ length: MAX_EXPIRE_LEASES_PER_COMMAND + 1 }, (_, i) => i + 1)
    assert.throws(() => encodeCommand({ type: 'expire-leases', nowMs: 1, leases: many }), { name: 'InvalidArgumentError' })
    // a count of 3 with two ids
    assert.throws(() => decodeCommand(Uint8Array.of(1, 10, 1, 3, 1, 2)), { name: 'InvalidMessageError' })
    // a zero id decodes, and the state machine refuses it as invalid without changing anything
    const { sm, run } = replica()
    const a = grant(run, 1000, 0)
    const r = sm.applyEncoded(2, Uint8Array.of(1, 10, 1, 2, a, 0))!
    assert.equal(r.type === 'error' && r.name, 'InvalidArgumentError')
    assert.deepEqual(sm.leases().map(l => l.id), [a])
  })
})
