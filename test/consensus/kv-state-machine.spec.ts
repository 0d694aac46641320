import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { KvStateMachine, unwrapResult, MAX_IDEMPOTENCY_RECORDS, encodeCommand } from '../../src/consensus/kv/index.ts'
import type { KvCommand, KvErrorResult, KvResult } from '../../src/consensus/kv/index.ts'

const enc = (s: string): Uint8Array => new TextEncoder().encode(s)
const dec = (b: Uint8Array | undefined): string | undefined => b == null ? undefined : new TextDecoder().decode(b)

/** a state machine fed consecutive Raft indexes */
function replica (): { sm: KvStateMachine, run: (cmd: KvCommand) => KvResult, next: () => number } {
  const sm = new KvStateMachine()
  let index = 0
  return { sm, run: (cmd) => sm.apply(++index, cmd), next: () => index + 1 }
}

function ok<R extends KvResult> (r: R): Exclude<R, KvErrorResult> {
  return unwrapResult(r)
}

describe('KvStateMachine: keys and revisions', () => {
  it('tracks a global revision and per-key createRevision, modRevision and version', () => {
    const { sm, run } = replica()
    assert.equal(sm.revision, 1)
    assert.deepEqual(run({ type: 'put', key: 'a', value: enc('1') }), { type: 'put', revision: 2 })
    const second = ok(run({ type: 'put', key: 'a', value: enc('2') }))
    assert.equal(second.type === 'put' && second.prev?.version, 1)
    const kv = sm.get('a')!
    assert.deepEqual({ ...kv, value: dec(kv.value) }, { key: 'a', value: '2', createRevision: 2, modRevision: 3, version: 2, lease: 0 })
    assert.deepEqual(run({ type: 'delete', key: 'a' }), { type: 'delete', revision: 4, deleted: 1 })
    assert.deepEqual(run({ type: 'delete', key: 'a' }), { type: 'delete', revision: 4, deleted: 0 }, 'deleting nothing is not a revision')
    ok(run({ type: 'put', key: 'a', value: enc('3') }))
    assert.deepEqual([sm.get('a')!.createRevision, sm.get('a')!.version], [5, 1], 're-created keys start over')
    const got = ok(run({ type: 'get', key: 'a' }))
    assert.equal(got.type === 'get' && dec(got.kv?.value), '3')
    assert.equal(sm.revision, 5, 'reads are not revisions')
  })

  it('ranges and deletes by prefix, in key order, with a limit', () => {
    const { sm, run } = replica()
    for (const k of ['b/2', 'a', 'b/1', 'b/3', 'c']) ok(run({ type: 'put', key: k, value: enc(k) }))
    const r = ok(run({ type: 'range', prefix: 'b/', limit: 2 }))
    assert.ok(r.type === 'range')
    assert.deepEqual(r.kvs.map(kv => kv.key), ['b/1', 'b/2'])
    assert.equal(r.more, true)
    assert.deepEqual(sm.range('').kvs.map(kv => kv.key), ['a', 'b/1', 'b/2', 'b/3', 'c'])
    assert.equal(sm.range('b/').more, false)
    const before = sm.revision
    assert.deepEqual(run({ type: 'delete', key: 'b/', prefix: true }), { type: 'delete', revision: before + 1, deleted: 3 })
    assert.deepEqual(sm.range('').kvs.map(kv => kv.key), ['a', 'c'])
  })

  it('cas puts only when modRevision matches (0: only when absent)', () => {
    const { sm, run } = replica()
    assert.equal(ok(run({ type: 'cas', key: 'k', value: enc('v1'), expectModRevision: 0 })).type, 'cas')
    const rev = sm.get('k')!.modRevision
    const fail = ok(run({ type: 'cas', key: 'k', value: enc('x'), expectModRevision: 0 }))
    assert.ok(fail.type === 'cas' && !fail.succeeded && dec(fail.kv?.value) === 'v1')
    assert.equal(sm.revision, rev, 'a failed cas changes nothing')
    const stale = ok(run({ type: 'cas', key: 'k', value: enc('x'), expectModRevision: rev - 1 }))
    assert.ok(stale.type === 'cas' && !stale.succeeded)
    const good = ok(run({ type: 'cas', key: 'k', value: enc('v2'), expectModRevision: rev }))
    assert.ok(good.type === 'cas' && good.succeeded && good.kv?.version === 2 && good.revision === rev + 1)
  })
})

describe('KvStateMachine: transactions', () => {
  it('evaluates compares on value, version, createRevision and modRevision and runs one branch atomically', () => {
    const { sm, run } = replica()
    ok(run({ type: 'put', key: 'x', value: enc('b') }))
    ok(run({ type: 'put', key: 'x', value: enc('c') }))
    const x = sm.get('x')!
    const cases: Array<[KvCommand & { type: 'txn' }, boolean]> = []
    const txn = (compare: any[]): KvCommand & { type: 'txn' } => ({ type: 'txn', compare, success: [{ type: 'get', key: 'x' }], failure: [] })
    cases.push([txn([{ key: 'x', target: 'value', op: '==', value: enc('c') }]), true])
    cases.push([txn([{ key: 'x', target: 'value', op: '>', value: enc('b') }]), true])
    cases.push([txn([{ key: 'x', target: 'value', op: '<', value: enc('ca') }]), true])
    cases.push([txn([{ key: 'x', target: 'value', op: '!=', value: enc('c') }]), false])
    cases.push([txn([{ key: 'x', target: 'version', op: '==', value: 2 }]), true])
    cases.push([txn([{ key: 'x', target: 'createRevision', op: '==', value: x.createRevision }]), true])
    cases.push([txn([{ key: 'x', target: 'modRevision', op: '<', value: x.modRevision }]), false])
    cases.push([txn([{ key: 'x', target: 'modRevision', op: '>', value: 0 }, { key: 'x', target: 'lease', op: '==', value: 0 }]), true])
    cases.push([txn([{ key: 'absent', target: 'version', op: '==', value: 0 }]), true])
    cases.push([txn([{ key: 'absent', target: 'value', op: '!=', value: enc('z') }]), false])
    cases.push([txn([{ key: 'x', target: 'version', op: '==', value: 2 }, { key: 'x', target: 'version', op: '==', value: 3 }]), false])
    for (const [cmd, expected] of cases) {
      const r = ok(run(cmd))
      assert.ok(r.type === 'txn')
      assert.equal(r.succeeded, expected, JSON.stringify(cmd.compare))
    }
    assert.equal(sm.revision, x.modRevision, 'read-only txns are not revisions')
  })

  it('gives every write of a txn one revision, and later ops see earlier ones', () => {
    const { sm, run } = replica()
    ok(run({ type: 'put', key: 'old', value: enc('o') }))
    const r = ok(run({
      type: 'txn',
      compare: [{ key: 'old', target: 'version', op: '==', value: 1 }],
      success: [
        { type: 'put', key: 'a', value: enc('1') },
        { type: 'delete', key: 'old' },
        { type: 'get', key: 'a' },
        { type: 'range', prefix: '' }
      ],
      failure: [{ type: 'put', key: 'never', value: enc('') }]
    }))
    assert.ok(r.type === 'txn' && r.succeeded)
    assert.equal(r.revision, 3)
    assert.deepEqual(r.responses.map(x => x.type), ['put', 'delete', 'get', 'range'])
    assert.ok(r.responses[2].type === 'get' && r.responses[2].kv?.modRevision === 3)
    assert.ok(r.responses[3].type === 'range' && r.responses[3].kvs.length === 1)
    assert.equal(sm.get('never'), undefined)
    const f = ok(run({ type: 'txn', compare: [{ key: 'old', target: 'version', op: '>', value: 0 }], success: [], failure: [{ type: 'put', key: 'b', value: enc('2') }, { type: 'put', key: 'c', value: enc('3') }] }))
    assert.ok(f.type === 'txn' && !f.succeeded && f.revision === 4)
    assert.equal(sm.get('b')!.modRevision, sm.get('c')!.modRevision)
  })

  it('refuses a txn that writes a key twice or puts under an unknown lease, changing nothing', () => {
    const { sm, run } = replica()
    const r1 = run({ type: 'txn', compare: [], success: [{ type: 'put', key: 'a', value: enc('1') }, { type: 'put', key: 'a', value: enc('2') }], failure: [] })
    assert.deepEqual([r1.type, r1.type === 'error' && r1.name], ['error', 'InvalidArgumentError'])
    const r2 = run({ type: 'txn', compare: [], success: [{ type: 'put', key: 'a', value: enc('1') }, { type: 'put', key: 'b', value: enc('2'), lease: 99 }], failure: [] })
    assert.deepEqual([r2.type, r2.type === 'error' && r2.name], ['error', 'NotFoundError'])
    assert.throws(() => unwrapResult(r2), { name: 'NotFoundError' })
    assert.equal(sm.get('a'), undefined)
    assert.equal(sm.revision, 1)
  })
})

describe('KvStateMachine: leases', () => {
  it('grants leases whose id is the granting index, attaches keys, keeps alive, expires through commands', () => {
    const { sm, run, next } = replica()
    const idx = next()
    const g = ok(run({ type: 'lease-grant', ttlMs: 1000, nowMs: 10_000 }))
    assert.deepEqual(g, { type: 'lease-grant', lease: idx, ttlMs: 1000, expiresAtMs: 11_000 })
    const short = ok(run({ type: 'lease-grant', ttlMs: 500, nowMs: 10_000 }))
    assert.ok(short.type === 'lease-grant')
    ok(run({ type: 'put', key: 'l/a', value: enc('a'), lease: idx }))
    ok(run({ type: 'put', key: 'l/b', value: enc('b'), lease: idx }))
    ok(run({ type: 'put', key: 's/a', value: enc('a'), lease: short.lease }))
    ok(run({ type: 'put', key: 'free', value: enc('f') }))
    assert.deepEqual(sm.lease(idx)?.keys, ['l/a', 'l/b'])
    assert.equal(sm.get('l/a')!.lease, idx)
    const ka = ok(run({ type: 'lease-keepalive', lease: idx, nowMs: 10_800 }))
    assert.ok(ka.type === 'lease-keepalive' && ka.expiresAtMs === 11_800)
    assert.deepEqual(sm.leaseTimes(idx), { id: idx, ttlMs: 1000, expiresAtMs: 11_800 })
    assert.equal(sm.leaseTimes(short.lease)?.expiresAtMs, 10_500)
    const rev = sm.revision
    const e1 = ok(run({ type: 'expire-leases', nowMs: 11_000 }))
    assert.deepEqual(e1, { type: 'expire-leases', revision: rev + 1, expired: [short.lease] })
    assert.equal(sm.get('s/a'), undefined)
    assert.ok(sm.get('l/a') != null)
    const e2 = ok(run({ type: 'expire-leases', nowMs: 11_800 }))
    assert.deepEqual(e2, { type: 'expire-leases', revision: rev + 2, expired: [idx] })
    assert.deepEqual(sm.range('').kvs.map(kv => kv.key), ['free'])
    assert.deepEqual(sm.leases(), [])
    assert.equal(sm.leaseTimes(idx), undefined)
    const gone = run({ type: 'lease-keepalive', lease: idx, nowMs: 12_000 })
    assert.equal(gone.type === 'error' && gone.name, 'NotFoundError')
    const put = run({ type: 'put', key: 'x', value: enc('x'), lease: idx })
    assert.equal(put.type === 'error' && put.name, 'NotFoundError')
  })

  it('promotes leases for a new leader: each gets a full TTL in its frame, whatever the old frame said', () => {
    const { sm, run } = replica()
    const a = ok(run({ type: 'lease-grant', ttlMs: 1000, nowMs: 0 }))
    const b = ok(run({ type: 'lease-grant', ttlMs: 5000, nowMs: 0 }))
    assert.ok(a.type === 'lease-grant' && b.type === 'lease-grant')
    // the new leader's clock reads 900: every lease gets a full TTL from there
    assert.deepEqual(run({ type: 'lease-promote', nowMs: 900 }), { type: 'lease-promote', leases: 2 })
    assert.equal(sm.lease(a.lease)?.expiresAtMs, 1900)
    assert.equal(sm.lease(b.lease)?.expiresAtMs, 5900)
    assert.deepEqual(ok(run({ type: 'expire-leases', nowMs: 1500 })), { type: 'expire-leases', revision: 1, expired: [] })
    assert.deepEqual(ok(run({ type: 'expire-leases', nowMs: 1900 })), { type: 'expire-leases', revision: 1, expired: [a.lease] })
    // a lease granted by a leader whose clock was 10 min ahead, then a leader with a normal clock
    // (900): a full TTL in its frame, not the old frame's expiry 10 min away in its own
    const c = ok(run({ type: 'lease-grant', ttlMs: 3000, nowMs: 600_000 }))
    assert.ok(c.type === 'lease-grant')
    assert.deepEqual(run({ type: 'lease-promote', nowMs: 900 }), { type: 'lease-promote', leases: 2 })
    assert.equal(sm.lease(c.lease)?.expiresAtMs, 3900)
    assert.deepEqual(ok(run({ type: 'expire-leases', nowMs: 3900 })), { type: 'expire-leases', revision: 1, expired: [c.lease] })
  })

  it('revokes a lease with its keys in one revision; re-putting a key without the lease detaches it', () => {
    const { sm, run } = replica()
    const g = ok(run({ type: 'lease-grant', ttlMs: 1000, nowMs: 0 }))
    assert.ok(g.type === 'lease-grant')
    ok(run({ type: 'put', key: 'a', value: enc('1'), lease: g.lease }))
    ok(run({ type: 'put', key: 'b', value: enc('1'), lease: g.lease }))
    ok(run({ type: 'put', key: 'b', value: enc('2') }))
    assert.deepEqual(sm.lease(g.lease)?.keys, ['a'])
    const rev = sm.revision
    assert.deepEqual(run({ type: 'lease-revoke', lease: g.lease }), { type: 'lease-revoke', revision: rev + 1, deleted: 1 })
    assert.deepEqual(sm.range('').kvs.map(kv => kv.key), ['b'])
    assert.equal(sm.lease(g.lease), undefined)
    const again = run({ type: 'lease-revoke', lease: g.lease })
    assert.equal(again.type === 'error' && again.name, 'NotFoundError')
    const badTtl = run({ type: 'lease-grant', ttlMs: 1, nowMs: 0 })
    assert.equal(badTtl.type === 'error' && badTtl.name, 'InvalidArgumentError')
  })
})

describe('KvStateMachine: fencing', () => {
  it('refuses writes from an older placement epoch with StaleEpochError once a newer one is granted', () => {
    const { sm, run } = replica()
    // node A gets the placement lease for agent/1, then it migrates to node B
    const a = ok(run({ type: 'lease-grant', ttlMs: 5000, nowMs: 0, fenceKey: 'agent/1' }))
    assert.ok(a.type === 'lease-grant')
    assert.equal(sm.fenceToken('agent/1'), a.lease)
    ok(run({ type: 'put', key: 'agent/1/state', value: enc('from A'), fence: { key: 'agent/1', token: a.lease, lease: a.lease } }))
    const b = ok(run({ type: 'lease-grant', ttlMs: 5000, nowMs: 100, fenceKey: 'agent/1' }))
    assert.ok(b.type === 'lease-grant')
    assert.equal(sm.fenceToken('agent/1'), b.lease)
    const rev = sm.revision
    const stale = run({ type: 'put', key: 'agent/1/state', value: enc('late A'), fence: { key: 'agent/1', token: a.lease, lease: a.lease } })
    assert.equal(stale.type === 'error' && stale.name, 'StaleEpochError')
    assert.throws(() => unwrapResult(stale), { name: 'StaleEpochError' })
    for (const cmd of [
      { type: 'delete', key: 'agent/1/state', fence: { key: 'agent/1', token: a.lease } },
      { type: 'cas', key: 'agent/1/state', value: enc('x'), expectModRevision: rev, fence: { key: 'agent/1', token: a.lease } },
      { type: 'txn', compare: [], success: [{ type: 'put', key: 'agent/1/state', value: enc('x') }], failure: [], fence: { key: 'agent/1', token: a.lease } },
      { type: 'lease-revoke', lease: b.lease, fence: { key: 'agent/1', token: a.lease } }
    ] as KvCommand[]) {
      const r = run(cmd)
      assert.equal(r.type === 'error' && r.name, 'StaleEpochError', cmd.type)
    }
    assert.equal(dec(sm.get('agent/1/state')!.value), 'from A')
    assert.equal(sm.revision, rev)
    ok(run({ type: 'put', key: 'agent/1/state', value: enc('from B'), fence: { key: 'agent/1', token: b.lease, lease: b.lease } }))
    assert.equal(dec(sm.get('agent/1/state')!.value), 'from B')
  })

  it('refuses a write naming a dead lease, raises the fence on a newer token, and refuses tokens from the future', () => {
    const { sm, run, next } = replica()
    const g = ok(run({ type: 'lease-grant', ttlMs: 1000, nowMs: 0 }))
    assert.ok(g.type === 'lease-grant')
    ok(run({ type: 'expire-leases', nowMs: 1000 }))
    const dead = run({ type: 'put', key: 'k', value: enc('v'), fence: { key: 'f', token: g.lease, lease: g.lease } })
    assert.equal(dead.type === 'error' && dead.name, 'StaleEpochError')
    ok(run({ type: 'put', key: 'k', value: enc('v'), fence: { key: 'f', token: 2 } }))
    assert.equal(sm.fenceToken('f'), 2)
    const older = run({ type: 'put', key: 'k', value: enc('v'), fence: { key: 'f', token: 1 } })
    assert.equal(older.type === 'error' && older.name, 'StaleEpochError')
    ok(run({ type: 'put', key: 'k', value: enc('v2'), fence: { key: 'f', token: 2 } }))
    const future = run({ type: 'put', key: 'k', value: enc('v'), fence: { key: 'f', token: next() + 1 } })
    assert.equal(future.type === 'error' && future.name, 'InvalidArgumentError')
    assert.equal(sm.fenceToken('f'), 2)
  })
})

describe('KvStateMachine: idempotency', () => {
  it('returns the first result for a re-applied request id without applying it again', () => {
    const { sm, run } = replica()
    const first = run({ type: 'put', key: 'n', value: enc('1'), requestId: 'req-1' })
    const dup = run({ type: 'put', key: 'n', value: enc('1'), requestId: 'req-1' })
    assert.deepEqual(dup, first)
    assert.equal(sm.get('n')!.version, 1)
    assert.equal(sm.revision, 2)
    const g1 = run({ type: 'lease-grant', ttlMs: 1000, nowMs: 0, requestId: 'grant-1' })
    const g2 = run({ type: 'lease-grant', ttlMs: 1000, nowMs: 0, requestId: 'grant-1' })
    assert.deepEqual(g2, g1)
    assert.equal(sm.leases().length, 1)
    const e1 = run({ type: 'put', key: 'x', value: enc('1'), lease: 12345, requestId: 'bad' })
    ok(run({ type: 'lease-grant', ttlMs: 1000, nowMs: 0 }))
    assert.deepEqual(run({ type: 'put', key: 'x', value: enc('1'), lease: 12345, requestId: 'bad' }), e1, 'a refusal is remembered too')
  })

  it(`forgets the oldest records beyond ${MAX_IDEMPOTENCY_RECORDS}`, () => {
    const { sm, run } = replica()
    for (let i = 0; i <= MAX_IDEMPOTENCY_RECORDS; i++) run({ type: 'put', key: 'c', value: enc(String(i)), requestId: `r${i}` })
    const rev = sm.revision
    run({ type: 'put', key: 'c', value: enc('again'), requestId: `r${MAX_IDEMPOTENCY_RECORDS}` })
    assert.equal(sm.revision, rev, 'the newest record is still known')
    run({ type: 'put', key: 'c', value: enc('again'), requestId: 'r0' })
    assert.equal(sm.revision, rev + 1, 'the oldest was forgotten, so r0 applies again')
  })
})

describe('KvStateMachine: log discipline and snapshots', () => {
  it('requires increasing indexes, skips leader no-ops, and turns undecodable entries into error results', () => {
    const sm = new KvStateMachine()
    assert.equal(sm.applyEncoded(1, new Uint8Array(0)), undefined)
    assert.equal(sm.appliedIndex, 1)
    assert.throws(() => sm.apply(1, { type: 'get', key: 'a' }), { name: 'InvalidArgumentError' })
    const bad = sm.applyEncoded(2, new Uint8Array([1, 200, 3]))
    assert.equal(bad?.type === 'error' && bad.name, 'InvalidMessageError')
    assert.equal(sm.appliedIndex, 2)
    const r = sm.applyEncoded(3, encodeCommand({ type: 'put', key: 'a', value: enc('1') }))
    assert.deepEqual(r, { type: 'put', revision: 2 })
  })

  it('restores a snapshot to a state that answers every later command identically', () => {
    const a = replica()
    const cmds: KvCommand[] = []
    for (let i = 0; i < 40; i++) {
      cmds.push({ type: 'put', key: `k/${i % 7}`, value: enc(String(i)), requestId: i % 5 === 0 ? `r${i}` : undefined })
      if (i % 9 === 0) cmds.push({ type: 'lease-grant', ttlMs: 1000 + i, nowMs: i * 100, fenceKey: `f${i % 2}` })
      if (i % 9 === 1) cmds.push({ type: 'put', key: `leased/${i}`, value: enc('l'), lease: cmds.length - 1 })
      if (i % 13 === 0) cmds.push({ type: 'expire-leases', nowMs: i * 100 })
    }
    for (const c of cmds) a.run(c)
    const bytes = a.sm.snapshot()
    const b = new KvStateMachine()
    b.restore(bytes)
    assert.deepEqual(b.snapshot(), bytes, 'restore then snapshot gives the same bytes')
    assert.equal(b.appliedIndex, a.sm.appliedIndex)
    const later: KvCommand[] = [
      { type: 'range', prefix: '' },
      { type: 'put', key: 'k/1', value: enc('x'), requestId: 'r5' },
      { type: 'expire-leases', nowMs: 100_000 },
      { type: 'put', key: 'z', value: enc('z'), fence: { key: 'f0', token: 1 } },
      { type: 'txn', compare: [{ key: 'k/2', target: 'version', op: '>', value: 0 }], success: [{ type: 'delete', key: 'k/', prefix: true }], failure: [] }
    ]
    let index = a.sm.appliedIndex
    for (const c of later) {
      index++
      assert.deepEqual(b.apply(index, c), a.sm.apply(index, c), c.type)
    }
    assert.deepEqual(b.snapshot(), a.sm.snapshot())
    assert.throws(() => b.restore(new Uint8Array([1, 2, 3])), (e: Error) => ['InvalidMessageError', 'UnsupportedVersionError'].includes(e.name))
    assert.deepEqual(b.snapshot(), a.sm.snapshot(), 'a failed restore keeps the state')
  })
})
