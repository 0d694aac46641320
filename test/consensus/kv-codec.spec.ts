import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import {
  KvStateMachine, decodeCommand, decodeResult, encodeCommand, encodeResult, MAX_KEY_BYTES, MAX_TXN_OPS, MAX_VALUE_BYTES
} from '../../src/consensus/kv/index.ts'
import type { Compare, KvCommand, KvResult, TxnOp, KeyValue } from '../../src/consensus/kv/index.ts'

const TYPED_DECODE_ERRORS = ['InvalidMessageError', 'MessageTooLargeError', 'UnsupportedVersionError']
const enc = (s: string): Uint8Array => new TextEncoder().encode(s)

function strip<T extends object> (o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T
}

const key = fc.string({ minLength: 1, maxLength: 12 })
const bytes = fc.uint8Array({ maxLength: 16 })
const uint = fc.nat({ max: 1_000_000 })
const lease = fc.option(fc.integer({ min: 1, max: 1000 }), { nil: undefined })
const meta = fc.record({
  requestId: fc.option(fc.string({ minLength: 1, maxLength: 8 }), { nil: undefined }),
  fence: fc.option(fc.record({ key, token: uint, lease }).map(f => strip(f)), { nil: undefined })
}, { requiredKeys: [] })
const txnOp: fc.Arbitrary<TxnOp> = fc.oneof(
  fc.record({ type: fc.constant('put' as const), key, value: bytes, lease }, { requiredKeys: ['type', 'key', 'value'] }),
  fc.record({ type: fc.constant('delete' as const), key }),
  fc.record({ type: fc.constant('get' as const), key }),
  fc.record({ type: fc.constant('range' as const), prefix: fc.string({ maxLength: 4 }), limit: fc.option(fc.integer({ min: 1, max: 50 }), { nil: undefined }) }, { requiredKeys: ['type', 'prefix'] })
)
const compare: fc.Arbitrary<Compare> = fc.oneof(
  fc.record({ key, target: fc.constant('value' as const), op: fc.constantFrom('==', '!=', '<', '>' as const), value: bytes }),
  fc.record({ key, target: fc.constantFrom('version', 'createRevision', 'modRevision', 'lease' as const), op: fc.constantFrom('==', '!=', '<', '>' as const), value: uint })
)
/** distinct write keys per branch, as validation requires */
const branch = fc.array(txnOp, { maxLength: 5 }).map(ops => {
  const seen = new Set<string>()
  return ops.filter(op => op.type === 'get' || op.type === 'range' || (!seen.has(op.key) && seen.add(op.key) != null))
})

const command: fc.Arbitrary<KvCommand> = fc.oneof(
  fc.tuple(key, bytes, lease, meta).map(([k, v, l, m]) => strip({ type: 'put' as const, key: k, value: v, lease: l, ...strip(m) })),
  fc.tuple(key, fc.boolean(), meta).map(([k, p, m]) => strip({ type: 'delete' as const, key: k, ...(p ? { prefix: true } : {}), ...strip(m) })),
  key.map(k => ({ type: 'get' as const, key: k })),
  fc.tuple(fc.string({ maxLength: 4 }), fc.option(fc.integer({ min: 1, max: 100 }), { nil: undefined })).map(([p, l]) => strip({ type: 'range' as const, prefix: p, limit: l })),
  fc.tuple(key, bytes, uint, lease, meta).map(([k, v, e, l, m]) => strip({ type: 'cas' as const, key: k, value: v, expectModRevision: e, lease: l, ...strip(m) })),
  fc.tuple(fc.array(compare, { maxLength: 4 }), branch, branch, meta).map(([c, s, f, m]) => ({ type: 'txn' as const, compare: c, success: s.map(strip), failure: f.map(strip), ...strip(m) })),
  fc.tuple(fc.integer({ min: 100, max: 100_000 }), uint, fc.option(key, { nil: undefined }), fc.option(fc.string({ minLength: 1, maxLength: 8 }), { nil: undefined }))
    .map(([t, n, f, r]) => strip({ type: 'lease-grant' as const, ttlMs: t, nowMs: n, fenceKey: f, requestId: r })),
  fc.tuple(fc.integer({ min: 1, max: 1000 }), uint).map(([l, n]) => ({ type: 'lease-keepalive' as const, lease: l, nowMs: n })),
  fc.tuple(fc.integer({ min: 1, max: 1000 }), meta).map(([l, m]) => ({ type: 'lease-revoke' as const, lease: l, ...strip(m) })),
  uint.map(n => ({ type: 'expire-leases' as const, nowMs: n })),
  uint.map(n => ({ type: 'lease-promote' as const, nowMs: n }))
)

const keyValue: fc.Arbitrary<KeyValue> = fc.tuple(key, bytes, fc.integer({ min: 1, max: 100 }), fc.nat(100), fc.integer({ min: 1, max: 100 }), fc.nat(100))
  .map(([k, v, c, d, ver, l]) => ({ key: k, value: v, createRevision: c, modRevision: c + d, version: ver, lease: l }))
const result: fc.Arbitrary<KvResult> = fc.oneof(
  fc.tuple(uint, fc.option(keyValue, { nil: undefined })).map(([r, p]) => strip({ type: 'put' as const, revision: r, prev: p })),
  fc.tuple(uint, uint).map(([r, d]) => ({ type: 'delete' as const, revision: r, deleted: d })),
  fc.tuple(uint, fc.option(keyValue, { nil: undefined })).map(([r, kv]) => strip({ type: 'get' as const, revision: r, kv })),
  fc.tuple(uint, fc.array(keyValue, { maxLength: 4 }), fc.boolean()).map(([r, kvs, more]) => ({ type: 'range' as const, revision: r, kvs, more })),
  fc.tuple(uint, fc.boolean(), fc.option(keyValue, { nil: undefined })).map(([r, s, kv]) => strip({ type: 'cas' as const, revision: r, succeeded: s, kv })),
  fc.tuple(uint, fc.boolean(), fc.array(fc.oneof(
    fc.option(keyValue, { nil: undefined }).map(p => strip({ type: 'put' as const, prev: p })),
    uint.map(d => ({ type: 'delete' as const, deleted: d })),
    fc.option(keyValue, { nil: undefined }).map(kv => strip({ type: 'get' as const, kv })),
    fc.tuple(fc.array(keyValue, { maxLength: 3 }), fc.boolean()).map(([kvs, more]) => ({ type: 'range' as const, kvs, more }))
  ), { maxLength: 4 })).map(([r, s, responses]) => ({ type: 'txn' as const, revision: r, succeeded: s, responses })),
  fc.tuple(fc.constantFrom('lease-grant', 'lease-keepalive' as const), uint, uint, uint).map(([type, l, t, e]) => ({ type, lease: l, ttlMs: t, expiresAtMs: e })),
  fc.tuple(uint, uint).map(([r, d]) => ({ type: 'lease-revoke' as const, revision: r, deleted: d })),
  fc.tuple(uint, fc.array(uint, { maxLength: 4 })).map(([r, e]) => ({ type: 'expire-leases' as const, revision: r, expired: e })),
  uint.map(n => ({ type: 'lease-promote' as const, leases: n })),
  fc.tuple(fc.constantFrom('StaleEpochError', 'NotFoundError', 'InvalidArgumentError' as const), fc.string({ maxLength: 20 })).map(([name, message]) => ({ type: 'error' as const, name, message }))
)

function onlyTypedErrors (fn: () => unknown): void {
  try {
    fn()
  } catch (err) {
    assert.ok(err instanceof Error && TYPED_DECODE_ERRORS.includes(err.name), `untyped error: ${String(err)}`)
  }
}

/** random damage to valid bytes: flip, truncate, extend, splice */
const mutated = (base: fc.Arbitrary<Uint8Array>): fc.Arbitrary<Uint8Array> => fc.tuple(base, fc.nat(), fc.nat(255), fc.constantFrom('flip', 'truncate', 'append', 'insert')).map(([b, at, byte, how]) => {
  if (b.length === 0) return b
  const i = at % b.length
  switch (how) {
    case 'flip': { const c = b.slice(); c[i] ^= byte === 0 ? 1 : byte; return c }
    case 'truncate': return b.slice(0, i)
    case 'append': return Uint8Array.from([...b, byte])
    default: return Uint8Array.from([...b.slice(0, i), byte, ...b.slice(i)])
  }
})

describe('KV codecs', () => {
  it('round-trips every command shape', () => {
    fc.assert(fc.property(command, cmd => {
      assert.deepEqual(decodeCommand(encodeCommand(cmd)), structuredClone(cmd))
    }), { seed: 42, numRuns: 500 })
  })

  it('round-trips every result shape', () => {
    fc.assert(fc.property(result, r => {
      assert.deepEqual(decodeResult(encodeResult(r)), structuredClone(r))
    }), { seed: 43, numRuns: 500 })
  })

  it('refuses to encode commands beyond the limits', () => {
    assert.throws(() => encodeCommand({ type: 'put', key: 'x'.repeat(MAX_KEY_BYTES + 1), value: new Uint8Array(0) }), { name: 'MessageTooLargeError' })
    assert.throws(() => encodeCommand({ type: 'put', key: 'k', value: new Uint8Array(MAX_VALUE_BYTES + 1) }), { name: 'MessageTooLargeError' })
    assert.throws(() => encodeCommand({ type: 'put', key: '', value: new Uint8Array(0) }), { name: 'InvalidArgumentError' })
    assert.throws(() => encodeCommand({ type: 'txn', compare: [], success: Array.from({ length: MAX_TXN_OPS + 1 }, (_, i) => ({ type: 'get' as const, key: `k${i}` })), failure: [] }), { name: 'InvalidArgumentError' })
    assert.throws(() => encodeCommand({ type: 'lease-grant', ttlMs: 1, nowMs: 0 }), { name: 'InvalidArgumentError' })
    assert.throws(() => encodeCommand({ type: 'put', key: 'k', value: enc('v'), lease: -1 }), { name: 'InvalidArgumentError' })
    assert.throws(() => encodeCommand({ type: 'nope' } as unknown as KvCommand), { name: 'InvalidArgumentError' })
    // a whole txn must fit in one command
    const big = Array.from({ length: 3 }, (_, i) => ({ type: 'put' as const, key: `k${i}`, value: new Uint8Array(MAX_VALUE_BYTES) }))
    assert.throws(() => encodeCommand({ type: 'txn', compare: [], success: big, failure: [] }), { name: 'MessageTooLargeError' })
  })

  it('refuses unknown versions, unknown tags, trailing bytes and oversized input with typed errors', () => {
    const good = encodeCommand({ type: 'get', key: 'a' })
    assert.throws(() => decodeCommand(Uint8Array.from([2, ...good.slice(1)])), { name: 'UnsupportedVersionError' })
    assert.throws(() => decodeCommand(Uint8Array.from([1, 99])), { name: 'InvalidMessageError' })
    assert.throws(() => decodeCommand(Uint8Array.from([...good, 0])), { name: 'InvalidMessageError' })
    assert.throws(() => decodeCommand(new Uint8Array(0)), { name: 'InvalidMessageError' })
    assert.throws(() => decodeCommand(new Uint8Array(3 * 1024 * 1024)), { name: 'MessageTooLargeError' })
    // a length prefix claiming more than the limit is refused before reading
    assert.throws(() => decodeCommand(Uint8Array.from([1, 1, 0xff, 0xff, 0xff, 0x7f])), { name: 'MessageTooLargeError' })
    assert.throws(() => decodeCommand(Uint8Array.from([1, 3, 2, 0xc3, 0x28])), { name: 'InvalidMessageError' }, 'invalid UTF-8 key')
  })

  it('decoders throw only typed errors on random bytes', () => {
    const sm = new KvStateMachine()
    fc.assert(fc.property(fc.uint8Array({ maxLength: 64 }), fc.constantFrom(0, 1), (b, v) => {
      const withVersion = b.length > 0 && v === 1 ? Uint8Array.from([1, ...b.slice(1)]) : b
      onlyTypedErrors(() => decodeCommand(withVersion))
      onlyTypedErrors(() => decodeResult(withVersion))
      onlyTypedErrors(() => { sm.restore(withVersion) })
    }), { seed: 44, numRuns: 3000 })
  })

  it('decoders throw only typed errors on damaged valid encodings, and whatever decodes re-encodes', () => {
    fc.assert(fc.property(mutated(command.map(encodeCommand)), b => {
      let cmd: KvCommand | undefined
      onlyTypedErrors(() => { cmd = decodeCommand(b) })
      if (cmd !== undefined) {
        // a decodable command is applied deterministically, never crashing the state machine
        const r1 = new KvStateMachine().apply(1, cmd)
        const r2 = new KvStateMachine().apply(1, cmd)
        assert.deepEqual(r1, r2)
      }
    }), { seed: 45, numRuns: 2000 })
    fc.assert(fc.property(mutated(result.map(encodeResult)), b => { onlyTypedErrors(() => decodeResult(b)) }), { seed: 46, numRuns: 2000 })
  })

  it('snapshot restore throws only typed errors on damaged snapshots and keeps the old state', () => {
    const source = new KvStateMachine()
    let i = 0
    const g = source.apply(++i, { type: 'lease-grant', ttlMs: 1000, nowMs: 0, fenceKey: 'f' })
    assert.ok(g.type === 'lease-grant')
    for (let k = 0; k < 10; k++) source.apply(++i, { type: 'put', key: `k${k}`, value: enc(String(k)), lease: k % 2 === 0 ? g.lease : undefined, requestId: `r${k}` })
    const snap = source.snapshot()
    const target = new KvStateMachine()
    target.restore(snap)
    fc.assert(fc.property(mutated(fc.constant(snap)), b => {
      onlyTypedErrors(() => { target.restore(b) })
      target.restore(snap)
    }), { seed: 47, numRuns: 2000 })
    assert.deepEqual(target.snapshot(), snap)
  })
})
