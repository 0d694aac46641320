import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { Outbox } from '../../src/messaging/outbox.ts'
import { createMessageId, rngRandomBytes } from '../../src/messaging/message-id.ts'
import { MemoryStore } from '../../src/storage/memory.ts'
import { ManualClock } from '../../src/util/clock.ts'
import { seededRng } from '../../src/util/prng.ts'
import { sampleEnvelope } from './helpers.ts'
import type { Store } from '../../src/storage/types.ts'

const ids = rngRandomBytes(seededRng(99))
const build = (payload = 'x') => (seq: number) =>
  sampleEnvelope({ id: createMessageId(ids), seq, payload: new TextEncoder().encode(JSON.stringify(payload)) })

describe('Outbox', () => {
  it('writes an accepted message before resolving and reports its state', async () => {
    const store = new MemoryStore()
    const outbox = await Outbox.open(store.sub('outbox/'), { clock: new ManualClock(1000) })
    const e = await outbox.accept('peerB', build('hello'))
    assert.equal(e.seq, 1)
    assert.equal(e.state, 'pending')
    assert.ok((await store.get(`outbox/m/${e.id}`)) != null, 'record on disk when accept resolves')
    await outbox.recordAttempt(e.id, 'UnreachableError: dial failed')
    assert.deepEqual({ ...outbox.status(e.id), createdAtMs: 0, updatedAtMs: 0 },
      { id: e.id, channel: 'peerB', seq: 1, state: 'pending', attempts: 1, reason: 'UnreachableError: dial failed', createdAtMs: 0, updatedAtMs: 0 })
    const d = await outbox.markDelivered(e.id)
    assert.equal(d.state, 'delivered')
    assert.equal(d.reason, undefined)
    assert.equal(outbox.status(createMessageId(ids)), undefined)
    await assert.rejects(outbox.markDelivered(createMessageId(ids)), { name: 'NotFoundError' })
  })

  it('survives a restart: pending messages come back in order and seqs continue per channel', async () => {
    const store = new MemoryStore()
    const first = await Outbox.open(store)
    const a1 = await first.accept('A', build('a1'))
    const b1 = await first.accept('B', build('b1'))
    const a2 = await first.accept('A', build('a2'))
    await first.markDelivered(b1.id)
    await first.markFailed(a1.id, 'gave up')
    await first.compact({ olderThanMs: 0 })

    const again = await Outbox.open(store)
    assert.equal(again.status(b1.id), undefined, 'delivered entry compacted')
    assert.equal(again.status(a1.id)?.state, 'failed')
    assert.equal(again.status(a1.id)?.reason, 'gave up')
    const pending = await again.pending()
    assert.deepEqual(pending.map(p => p.id), [a2.id])
    assert.deepEqual(pending[0].envelope.payload, new TextEncoder().encode('"a2"'))
    assert.equal((await again.accept('A', build())).seq, 3)
    assert.equal((await again.accept('B', build())).seq, 2, 'counter survives compaction of its only entry')
    assert.equal(again.nextSeq('C'), 1)
  })

  it('assigns unique contiguous seqs to concurrent accepts', async () => {
    const outbox = await Outbox.open(new MemoryStore())
    const all = await Promise.all(Array.from({ length: 50 }, async () => await outbox.accept('A', build())))
    assert.deepEqual(all.map(e => e.seq).sort((a, b) => a - b), Array.from({ length: 50 }, (_, i) => i + 1))
    assert.deepEqual((await outbox.pending({ channel: 'A' })).map(e => e.seq), Array.from({ length: 50 }, (_, i) => i + 1))
  })

  it('is bounded: drops delivered entries to make room, then refuses with CapacityError', async () => {
    const outbox = await Outbox.open(new MemoryStore(), { maxEntries: 3 })
    const e1 = await outbox.accept('A', build())
    await outbox.accept('A', build()); await outbox.accept('A', build())
    await outbox.markDelivered(e1.id)
    await outbox.accept('A', build())
    assert.equal(outbox.status(e1.id), undefined)
    await assert.rejects(outbox.accept('A', build()), { name: 'CapacityError' })
    assert.equal(outbox.nextSeq('A'), 5, 'a refused message consumes no seq')
    const small = await Outbox.open(new MemoryStore(), { maxBytes: 200 })
    await assert.rejects(small.accept('A', build('y'.repeat(300))), { name: 'CapacityError' })
  })

  it('keeps delivered entries for the retention period, and a late ack wins over a failure', async () => {
    const clock = new ManualClock(0)
    const outbox = await Outbox.open(new MemoryStore(), { clock, deliveredRetentionMs: 1000 })
    const e = await outbox.accept('A', build())
    const f = await outbox.accept('A', build())
    await outbox.markDelivered(e.id)
    await outbox.markFailed(f.id, 'timeout')
    await outbox.markFailed(e.id, 'ignored: already delivered')
    assert.equal(outbox.status(e.id)?.state, 'delivered')
    assert.equal(await outbox.compact(), 0)
    clock.advance(1000)
    assert.equal(await outbox.compact(), 1)
    assert.equal((await outbox.markDelivered(f.id)).state, 'delivered')
    assert.equal(await outbox.compact({ olderThanMs: 0, includeFailed: true }), 1)
    assert.deepEqual(outbox.stats(), { pending: 0, delivered: 0, failed: 0, bytes: 0, corrupt: 0 })
  })

  it('surfaces a failed write as StorageError without consuming the seq', async () => {
    const store = new MemoryStore()
    let failing = true
    const syncFlags: unknown[] = []
    const flaky: Store = {
      ...store.sub(''),
      batch: async (ops, o) => { syncFlags.push(o?.sync); if (failing) throw new Error('disk full'); await (store as Store).batch(ops, o) }
    }
    const outbox = await Outbox.open(flaky)
    await assert.rejects(outbox.accept('A', build()), { name: 'StorageError' })
    failing = false
    assert.equal((await outbox.accept('A', build())).seq, 1)
    assert.deepEqual(syncFlags, [true, true], 'accept writes are synced')
  })

  it('opens past a corrupt record, counting it and leaving it on disk', async () => {
    const store = new MemoryStore()
    const first = await Outbox.open(store)
    const e = await first.accept('A', build())
    await store.put('m/zzzz', new Uint8Array([1, 9, 9]))
    const again = await Outbox.open(store)
    assert.equal(again.stats().corrupt, 1)
    assert.equal(again.status(e.id)?.state, 'pending')
    assert.ok((await store.get('m/zzzz')) != null)
  })
})
