import { describe, it, afterEach } from 'node:test'
import assert from 'node:assert/strict'
import { runInNewContext } from 'node:vm'
import * as Y from 'yjs'
import { ManualClock } from '../../../src/util/clock.ts'
import { HybridLogicalClock, YKeyValue, compareHlcText, formatHlc, type StoredKvEntry, decodeKvEntry, encodeKvEntry } from '../../../src/consensus/crdt/index.ts'
import { Cluster } from './harness.ts'

let cluster: Cluster | undefined
afterEach(async () => { await cluster?.stopAll(); cluster = undefined })

function syncDocs (a: Y.Doc, b: Y.Doc): void {
  Y.applyUpdate(b, Y.encodeStateAsUpdate(a, Y.encodeStateVector(b)))
  Y.applyUpdate(a, Y.encodeStateAsUpdate(b, Y.encodeStateVector(a)))
}

describe('YKeyValue', () => {
  it('gets, sets, deletes and lists entries', () => {
    const kv = new YKeyValue<number>(new Y.Doc().getArray<StoredKvEntry>('s'))
    kv.set('a', 1); kv.set('b', 2); kv.set('a', 3); kv.delete('b'); kv.delete('missing')
    assert.equal(kv.get('a'), 3)
    assert.equal(kv.get('b'), undefined)
    assert.equal(kv.has('b'), false)
    assert.deepEqual([...kv.entries()], [['a', 3]])
    assert.equal(kv.size, 1)
  })

  it('stays small under rewrites where a Y.Map grows', () => {
    const d1 = new Y.Doc(); const kv = new YKeyValue(d1.getArray<StoredKvEntry>('s'))
    const d2 = new Y.Doc(); const map = d2.getMap('s')
    for (let i = 0; i < 5000; i++) { kv.set(`k${i % 10}`, i); map.set(`k${i % 10}`, i) }
    const kvBytes = Y.encodeStateAsUpdate(d1).byteLength
    const mapBytes = Y.encodeStateAsUpdate(d2).byteLength
    assert.ok(kvBytes < 1000, `YKeyValue doc is ${kvBytes} bytes`)
    assert.ok(kvBytes * 20 < mapBytes, `YKeyValue ${kvBytes} bytes vs Y.Map ${mapBytes} bytes`)
    assert.deepEqual(kv.get('k9'), 4999)
  })

  it('10,000 overwrites of 10 keys leave a small doc, here and on a peer that followed every update', () => {
    const a = new Y.Doc(); const b = new Y.Doc()
    a.on('update', (u: Uint8Array) => { Y.applyUpdate(b, u) })
    const kva = new YKeyValue<number>(a.getArray<StoredKvEntry>('s'))
    const kvb = new YKeyValue<number>(b.getArray<StoredKvEntry>('s'))
    for (let i = 0; i < 10_000; i++) kva.set(`k${(i * 7) % 10}`, i)
    const bytes = Y.encodeStateAsUpdate(a).byteLength
    assert.ok(bytes < 1000, `doc is ${bytes} bytes after 10,000 overwrites`)
    assert.ok(Y.encodeStateAsUpdate(b).byteLength < 1000)
    assert.deepEqual(kvb.toJSON(), kva.toJSON())
    assert.equal(a.getArray('s').length, 10, 'one live entry per key')
  })

  it('keeps one entry per key when a key is written several times in one transaction', () => {
    const doc = new Y.Doc(); const kv = new YKeyValue<number>(doc.getArray<StoredKvEntry>('s'))
    doc.transact(() => { kv.set('x', 1); kv.set('x', 2); kv.set('y', 1); kv.delete('y'); kv.set('x', 3) })
    assert.equal(kv.get('x'), 3)
    assert.equal(kv.has('y'), false)
    assert.deepEqual(doc.getArray('s').toArray().map(decodeKvEntry), [{ k: 'x', v: 3 }])
  })

  it('a map opened over an array with duplicate entries keeps the rightmost and deletes the rest', () => {
    const doc = new Y.Doc(); const arr = doc.getArray<StoredKvEntry>('s')
    // entries as plain objects (the earlier format) are read too
    arr.push([{ k: 'x', v: 1 }, { k: 'y', v: 1 }, { k: 'x', v: 2 }, { k: 'x', v: 3 }])
    const kv = new YKeyValue<number>(arr)
    assert.equal(kv.get('x'), 3)
    assert.deepEqual(arr.toJSON(), [{ k: 'y', v: 1 }, { k: 'x', v: 3 }])
    // an entry pushed by someone else's code is reconciled against the indexed one
    arr.insert(0, [encodeKvEntry({ k: 'y', v: 9 })])
    assert.equal(kv.get('y'), 1, 'the rightmost entry of y stays')
    assert.equal(arr.length, 2)
  })

  it('decodes stored entries whatever realm their bytes come from (a tab reads another frame\'s doc)', () => {
    const bytes = encodeKvEntry({ k: 'mood', d: 1, t: '0001764000000000.0000000001.p' })
    const foreign = runInNewContext('(b) => new Uint8Array(b)')(Array.from(bytes)) as Uint8Array
    assert.equal(foreign instanceof Uint8Array, false)
    assert.deepEqual(decodeKvEntry(foreign), { k: 'mood', d: 1, t: '0001764000000000.0000000001.p' })
    assert.equal(decodeKvEntry(new Uint8Array([0xff, 0x00])), undefined, 'not an entry')
  })

  it('many peers writing the same keys concurrently converge on one entry per key', () => {
    const docs = [new Y.Doc(), new Y.Doc(), new Y.Doc()]
    const kvs = docs.map(d => new YKeyValue<string>(d.getArray<StoredKvEntry>('s')))
    for (let round = 0; round < 5; round++) {
      kvs.forEach((kv, p) => { for (let i = 0; i < 50; i++) kv.set(`k${(i * (p + 1)) % 20}`, `p${p}r${round}i${i}`) })
      syncDocs(docs[0], docs[1]); syncDocs(docs[1], docs[2]); syncDocs(docs[0], docs[1])
    }
    for (let i = 0; i < 2; i++) { syncDocs(docs[0], docs[1]); syncDocs(docs[1], docs[2]); syncDocs(docs[0], docs[2]) }
    assert.deepEqual(kvs[1].toJSON(), kvs[0].toJSON())
    assert.deepEqual(kvs[2].toJSON(), kvs[0].toJSON())
    assert.equal(kvs[0].size, 20)
    for (const d of docs) assert.equal(d.getArray('s').length, 20)
  })

  it('converges on one entry per key after concurrent writes (crdt policy)', () => {
    const a = new Y.Doc(); const b = new Y.Doc()
    const kva = new YKeyValue(a.getArray<StoredKvEntry>('s')); const kvb = new YKeyValue(b.getArray<StoredKvEntry>('s'))
    kva.set('x', 'a'); kvb.set('x', 'b'); kvb.set('y', 1)
    syncDocs(a, b)
    syncDocs(a, b)
    assert.equal(kva.get('x'), kvb.get('x'))
    assert.equal(a.getArray('s').length, 2)
    assert.deepEqual(a.getArray('s').toJSON(), b.getArray('s').toJSON())
  })

  it('under lww, the later stamp wins whichever order the writes arrive in', () => {
    const clock = new ManualClock(1000)
    const a = new Y.Doc(); const b = new Y.Doc()
    const conflicts: unknown[] = []
    const kva = new YKeyValue(a.getArray<StoredKvEntry>('s'), { policy: 'lww', hlc: new HybridLogicalClock(clock), peer: 'pa', onConflict: c => conflicts.push(c) })
    const kvb = new YKeyValue(b.getArray<StoredKvEntry>('s'), { policy: 'lww', hlc: new HybridLogicalClock(clock), peer: 'pb' })
    kvb.set('x', 'early')
    clock.advance(5)
    kva.set('x', 'late')
    syncDocs(b, a)
    syncDocs(a, b)
    assert.equal(kva.get('x'), 'late')
    assert.equal(kvb.get('x'), 'late')
    assert.equal(conflicts.length, 1)
  })
})

describe('stamps of lww maps', () => {
  it('a stamp written before the clocks were one (15.6.peer) still orders against new ones by value', () => {
    const clock = new ManualClock(1_700_000_000_000)
    const doc = new Y.Doc(); const arr = doc.getArray<StoredKvEntry>('s')
    // an old-format stamp 1 ms later than the clock: it wins although it sorts first as text
    arr.push([{ k: 'x', v: 'old-later', t: '001700000000001.000000.pz' }])
    const kv = new YKeyValue(arr, { policy: 'lww', hlc: new HybridLogicalClock(clock), peer: 'pa' })
    arr.push([encodeKvEntry({ k: 'x', v: 'new-earlier', t: formatHlc({ wallMs: 1_700_000_000_000, logical: 5, peer: 'pb' }) })])
    assert.equal(kv.get('x'), 'old-later')
    kv.set('x', 'newest')
    assert.ok(compareHlcText(kv.entryOf('x')!.t, '001700000000001.000000.pz') > 0, 'the clock moved past the stamp it saw')
  })
})

describe('conflict policies', () => {
  it('lww records concurrent writes; handleConflict reports the winner everywhere', async () => {
    cluster = await Cluster.create(['a', 'b'])
    const ra = cluster.peer('a').replicator; const rb = cluster.peer('b').replicator
    await ra.replicateState('agent', { conflictPolicy: 'lww', replicas: 0 })
    await rb.replicateState('agent', { conflictPolicy: 'lww', replicas: 0 })
    const kva = ra.keyValue('agent'); const kvb = rb.keyValue('agent')
    const events: string[] = []
    for (const r of [ra, rb]) r.addEventListener('conflict:detected', (e) => { events.push((e as CustomEvent<{ key: string }>).detail.key) })
    kva.set('seq', 'first')
    await cluster.settle()
    kvb.set('seq', 'second')
    await cluster.settle()
    assert.equal(kva.get('seq'), 'second')
    assert.deepEqual(ra.conflicts(), [], 'sequential writes are not conflicts')

    cluster.net.partition([['a'], ['b']])
    kvb.set('x', 'from-b')
    cluster.clock.advance(10)
    kva.set('x', 'from-a')
    cluster.net.heal()
    await cluster.until(() => kva.get('x') === 'from-a' && kvb.get('x') === 'from-a', 5, 'lww merge')
    const recorded = [...ra.conflicts(), ...rb.conflicts()]
    assert.ok(recorded.length >= 1)
    assert.ok(events.length >= 1 && events.every(k => k === 'x'))
    const c = recorded[0]
    const owner = ra.conflicts().length > 0 ? ra : rb
    assert.deepEqual(c.candidates.map(x => x.value).sort(), ['from-a', 'from-b'])
    const outcome = owner.handleConflict(c.id)
    assert.equal(outcome.policy, 'lww')
    assert.equal(outcome.value, 'from-a')
    assert.equal(outcome.winner?.peer, 'a')
    assert.throws(() => owner.handleConflict(c.id), { name: 'NotFoundError' })
  })

  it('a custom resolver writes its merged value to every peer', async () => {
    cluster = await Cluster.create(['a', 'b'])
    const policy = { name: 'sum', resolve: (c: { candidates: Array<{ value: unknown }> }) => c.candidates.reduce((s, x) => s + (x.value as number), 0) }
    const ra = cluster.peer('a').replicator; const rb = cluster.peer('b').replicator
    await ra.replicateState('counter', { conflictPolicy: policy, replicas: 0 })
    await rb.replicateState('counter', { conflictPolicy: policy, replicas: 0 })
    cluster.net.partition([['a'], ['b']])
    ra.keyValue<number>('counter').set('n', 2)
    rb.keyValue<number>('counter').set('n', 3)
    cluster.net.heal()
    await cluster.until(() => ra.conflicts().length + rb.conflicts().length > 0, 5, 'conflict recorded')
    const holder = ra.conflicts().length > 0 ? ra : rb
    const outcome = holder.handleConflict(holder.conflicts()[0].id)
    assert.equal(outcome.policy, 'sum')
    assert.equal(outcome.value, 5)
    await cluster.until(() => ra.keyValue('counter').get('n') === 5 && rb.keyValue('counter').get('n') === 5, 5, 'resolved value')
  })
})
