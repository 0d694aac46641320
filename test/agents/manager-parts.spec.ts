/**
 * The DistributedAgentManager's pure parts: placement records and control messages refuse bad
 * input with typed errors, the placement cache keeps the newest epoch and wakes waiters, and the
 * node lease (over a scripted KV and a manual clock) is valid only while renewals arrive, survives
 * one stuck renewal, and is re-granted when the store has lost it.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { ManualClock } from '../../src/util/clock.ts'
import { componentLogger } from '../../src/util/logger.ts'
import { NotFoundError } from '../../src/errors.ts'
import { CONTROL_TAG, NodeLease, PlacementCache, decodeControl, decodePlacement, encodeControl, encodePlacement } from '../../src/agents/index.ts'
import type { ControlMessage, LeaseKv, Placement } from '../../src/agents/index.ts'

const p = (over: Partial<Placement> = {}): Placement => ({ id: 'a1', kind: 'counter', node: 'peer-1', epoch: 10, config: {}, status: 'active', ...over })

describe('placement records', () => {
  it('round-trip and keep the revision given', () => {
    assert.deepEqual(decodePlacement(encodePlacement(p()), 7), { ...p(), revision: 7 })
    const withSet = p({ replicas: ['peer-1', 'peer-2', 'peer-3'], acks: 2 })
    assert.deepEqual(decodePlacement(encodePlacement(withSet)), withSet, 'the replica set travels with the record')
  })

  it('refuse malformed and oversized records with typed errors', () => {
    for (const bad of [null, 1, [], { ...p(), epoch: -1 }, { ...p(), epoch: 1.5 }, { ...p(), node: '' }, { ...p(), kind: 'Bad Kind' },
      { ...p(), status: 'running' }, { ...p(), config: [] }, { ...p(), id: '' },
      { ...p(), replicas: ['a', 'b'] }, { ...p(), acks: 1 }, { ...p(), replicas: 'a', acks: 1 }, { ...p(), replicas: ['a', 'a'], acks: 1 },
      { ...p(), replicas: ['a', ''], acks: 1 }, { ...p(), replicas: ['a'], acks: -1 }, { ...p(), replicas: ['a'], acks: 1.5 },
      { ...p(), replicas: Array.from({ length: 17 }, (_, i) => `p${i}`), acks: 2 }]) {
      assert.throws(() => decodePlacement(bad), { name: 'InvalidMessageError' }, JSON.stringify(bad))
    }
    assert.throws(() => decodePlacement({ ...p(), config: { big: 'x'.repeat(70_000) } }), { name: 'MessageTooLargeError' })
  })

  it('any input gives a placement or a typed error, never anything else', () => {
    fc.assert(fc.property(fc.jsonValue(), (v) => {
      try { decodePlacement(v) } catch (err) { assert.ok(['InvalidMessageError', 'MessageTooLargeError'].includes((err as Error).name), (err as Error).name) }
    }), { numRuns: 500 })
  })
})

describe('control messages', () => {
  it('round-trip each op', () => {
    const messages: ControlMessage[] = [
      { op: 'activate', id: 'a1', epoch: 3, syncFrom: ['p2'], fresh: true },
      { op: 'migrate', id: 'a1', node: 'p3' },
      { op: 'state', id: 'a1' },
      { op: 'placement', placement: p() }
    ]
    for (const m of messages) assert.deepEqual(decodeControl(encodeControl(m)), m)
  })

  it('refuse unknown ops, bad fields and oversize', () => {
    assert.throws(() => decodeControl({ t: CONTROL_TAG, op: 'explode' }), { name: 'InvalidMessageError' })
    assert.throws(() => decodeControl({ t: 'other', op: 'state', id: 'a' }), { name: 'InvalidMessageError' })
    assert.throws(() => decodeControl({ t: CONTROL_TAG, op: 'activate', id: 'a', epoch: 'x', syncFrom: [] }), { name: 'InvalidMessageError' })
    assert.throws(() => decodeControl({ t: CONTROL_TAG, op: 'activate', id: 'a', epoch: 1, syncFrom: Array(17).fill('p') }), { name: 'InvalidMessageError' })
    assert.throws(() => decodeControl({ t: CONTROL_TAG, op: 'migrate', id: 'a', node: 5 }), { name: 'InvalidMessageError' })
    assert.throws(() => decodeControl({ t: CONTROL_TAG, op: 'state', id: 'a', pad: 'x'.repeat(70_000) }), { name: 'MessageTooLargeError' })
  })
})

describe('PlacementCache', () => {
  it('keeps the newest epoch and ignores older news', () => {
    const cache = new PlacementCache()
    assert.equal(cache.offer(p({ epoch: 10, node: 'n1' })), true)
    assert.equal(cache.offer(p({ epoch: 9, node: 'n0' })), false)
    assert.equal(cache.get('a1')?.node, 'n1')
    assert.equal(cache.offer(p({ epoch: 11, node: 'n2' })), true)
    assert.equal(cache.get('a1')?.node, 'n2')
  })

  it('wakes whoever waits for an agent to move, and forgets removed agents', async () => {
    const cache = new PlacementCache()
    cache.offer(p())
    const next = cache.nextChange('a1')
    cache.offer(p({ epoch: 12, node: 'n9' }))
    assert.equal((await next)?.node, 'n9')
    const gone = cache.nextChange('a1')
    cache.replaceAll([])
    assert.equal(await gone, undefined)
    const stop = new AbortController()
    const waiting = cache.nextChange('a1', { signal: stop.signal })
    stop.abort(new Error('gave up'))
    await assert.rejects(waiting, { name: 'AbortError' })
  })
})

/** a KV whose lease calls are answered when the test says so */
function scriptedKv (): LeaseKv & { calls: string[], answer: (fn: 'ok' | 'gone') => void } {
  const waiting: Array<{ resolve: (v: { id: number, ttlMs: number, expiresAtMs: number }) => void, reject: (e: Error) => void }> = []
  const calls: string[] = []
  const call = async (what: string): Promise<{ id: number, ttlMs: number, expiresAtMs: number }> => {
    calls.push(what)
    return await new Promise((resolve, reject) => { waiting.push({ resolve, reject }) })
  }
  return {
    calls,
    grantLease: async () => await call('grant'),
    keepAlive: async () => await call('keepAlive'),
    revoke: async () => { calls.push('revoke') },
    answer: (how) => {
      const w = waiting.shift()
      if (w == null) throw new Error('nothing to answer')
      if (how === 'gone') w.reject(new NotFoundError('lease not found'))
      else w.resolve({ id: 42, ttlMs: 2000, expiresAtMs: 0 })
    }
  }
}

const tick = async (): Promise<void> => { for (let i = 0; i < 5; i++) await Promise.resolve() }

describe('NodeLease', () => {
  it('is valid from the grant until ttl - safety after the last renewal sent, and lapses without renewals', async () => {
    const clock = new ManualClock(1000)
    const kv = scriptedKv()
    const lease = new NodeLease({ kv, clock, log: componentLogger('test:lease'), ttlMs: 2000, renewMs: 400, safetyMs: 200 })
    const lapsed: number[] = []
    lease.addEventListener('lease:lapsed', () => { lapsed.push(clock.monotonic()) })
    lease.start()
    assert.equal(lease.valid(), false)
    clock.advance(100)
    kv.answer('ok') // the grant sent at t=1000
    await tick()
    assert.equal(lease.valid(), true)
    assert.equal(lease.id, 42)
    // renewals go out every 400 ms; none is answered: valid until 1000 + 2000 - 200 = 2800
    clock.advance(1690)
    assert.equal(lease.valid(), true)
    clock.advance(20)
    assert.equal(lease.valid(), false)
    assert.equal(lapsed.length, 1)
    await lease.stop()
  })

  it('one stuck renewal does not hold the others back', async () => {
    const clock = new ManualClock(0)
    const kv = scriptedKv()
    const lease = new NodeLease({ kv, clock, log: componentLogger('test:lease'), ttlMs: 2000, renewMs: 400, safetyMs: 200 })
    lease.start()
    kv.answer('ok') // grant at 0
    await tick()
    clock.advance(400) // renewal #1 sent at 400: stays stuck
    clock.advance(400) // renewal #2 sent at 800
    assert.deepEqual(kv.calls, ['grant', 'keepAlive', 'keepAlive'])
    await lease.stop()
  })

  it('a lease the store lost is announced and granted again', async () => {
    const clock = new ManualClock(0)
    const kv = scriptedKv()
    const lease = new NodeLease({ kv, clock, log: componentLogger('test:lease'), ttlMs: 2000, renewMs: 400, safetyMs: 200 })
    const lost: number[] = []
    lease.addEventListener('lease:lost', (e) => { lost.push(e.detail.lease) })
    lease.start()
    kv.answer('ok')
    await tick()
    clock.advance(400)
    kv.answer('gone')
    await tick()
    assert.deepEqual(lost, [42])
    assert.equal(lease.valid(), false)
    assert.equal(kv.calls.at(-1), 'grant')
    kv.answer('ok')
    await tick()
    assert.equal(lease.valid(), true)
    await lease.stop()
    assert.equal(kv.calls.at(-1), 'revoke')
  })
})
