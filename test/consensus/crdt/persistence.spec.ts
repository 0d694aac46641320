import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import * as Y from 'yjs'
import { MemoryStore } from '../../../src/storage/memory.ts'
import type { BatchOp } from '../../../src/storage/types.ts'
import { componentLogger } from '../../../src/util/logger.ts'
import { DocPersistence } from '../../../src/consensus/crdt/persistence.ts'

const log = componentLogger('crdt:test')

function recordUpdates (doc: Y.Doc): Array<[Uint8Array, Uint8Array]> {
  const out: Array<[Uint8Array, Uint8Array]> = []
  doc.on('update', (u: Uint8Array) => { out.push([u, Y.encodeStateVector(doc)]) })
  return out
}

describe('DocPersistence', () => {
  it('keeps every update appended right after the previous one became durable', async () => {
    const store = new MemoryStore()
    const p = new DocPersistence(store, { log })
    const doc = new Y.Doc()
    const updates = recordUpdates(doc)
    for (let i = 0; i < 20; i++) {
      doc.getArray('a').push([i])
      const [u, sv] = updates[updates.length - 1]
      await p.append(u, sv)
    }
    await p.idle()
    const reloaded = new DocPersistence(store, { log })
    const restored = new Y.Doc()
    Y.applyUpdate(restored, Y.mergeUpdates(await reloaded.loadUpdates()))
    assert.deepEqual(restored.getArray('a').toJSON(), doc.getArray('a').toJSON())
  })

  it('compacts the log past its threshold into one merged update with the same content', async () => {
    const store = new MemoryStore()
    const persisted: Uint8Array[] = []
    const p = new DocPersistence(store, { log, compactAfterUpdates: 10, onPersisted: (sv) => persisted.push(sv) })
    const doc = new Y.Doc()
    const updates = recordUpdates(doc)
    for (let i = 0; i < 35; i++) doc.getText('t').insert(0, String(i % 10))
    await Promise.all(updates.map(async ([u, sv]) => { await p.append(u, sv) }))
    await p.idle()
    assert.ok(p.compactions >= 1)
    let entries = 0
    for await (const _ of store.entries()) entries++
    assert.ok(entries <= 10, `log has ${entries} entries`)
    const restored = new Y.Doc()
    Y.applyUpdate(restored, Y.mergeUpdates(await new DocPersistence(store, { log }).loadUpdates()))
    assert.equal(restored.getText('t').toString(), doc.getText('t').toString())
    assert.deepEqual(persisted[persisted.length - 1], Y.encodeStateVector(doc))
  })

  it('compacts a long log into the doc snapshot, and a big log only again once it doubled', async () => {
    const store = new MemoryStore()
    const doc = new Y.Doc()
    const updates = recordUpdates(doc)
    const p = new DocPersistence(store, { log, compactAfterUpdates: 100, compactAfterBytes: 1000, snapshot: () => Y.encodeStateAsUpdate(doc) })
    for (let i = 0; i < 5000; i++) doc.getMap('m').set(`k${i}`, i)
    await Promise.all(updates.map(async ([u, sv]) => { await p.append(u, sv) }))
    await p.idle()
    let entries = 0
    for await (const _ of store.entries()) entries++
    assert.equal(entries, 1)
    assert.equal(p.compactions, 1)
    // the snapshot is far over compactAfterBytes: a few small appends must not rewrite it each time
    for (let i = 0; i < 5; i++) {
      doc.getMap('m').set(`extra${i}`, i)
      await p.append(...updates[updates.length - 1])
    }
    assert.equal(p.compactions, 1)
    const restored = new Y.Doc()
    const stored = await new DocPersistence(store, { log }).loadUpdates()
    assert.equal(stored.length, 6)
    restored.transact(() => { for (const u of stored) Y.applyUpdate(restored, u) })
    assert.deepEqual(restored.getMap('m').toJSON(), doc.getMap('m').toJSON())
  })

  it('rejects with StorageError when the store fails, and recovers once it works', async () => {
    const store = new MemoryStore()
    let failing = true
    const batch = store.batch.bind(store)
    store.batch = async (ops: BatchOp[]) => { if (failing) throw new Error('disk full'); await batch(ops) }
    const p = new DocPersistence(store, { log })
    const doc = new Y.Doc()
    const updates = recordUpdates(doc)
    doc.getMap('m').set('a', 1)
    await assert.rejects(p.append(...updates[0]), { name: 'StorageError' })
    assert.equal(p.persistedStateVector, undefined)
    failing = false
    doc.getMap('m').set('b', 2)
    await p.append(...updates[0])
    await p.append(...updates[1])
    const restored = new Y.Doc()
    Y.applyUpdate(restored, Y.mergeUpdates(await new DocPersistence(store, { log }).loadUpdates()))
    assert.deepEqual(restored.getMap('m').toJSON(), { a: 1, b: 2 })
  })
})
