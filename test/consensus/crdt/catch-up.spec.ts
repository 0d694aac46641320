import { describe, it, afterEach } from 'node:test'
import assert from 'node:assert/strict'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import * as Y from 'yjs'
import * as encoding from 'lib0/encoding'
import * as syncProtocol from 'y-protocols/sync'
import { FULL_STATE_KEEP_MS, SYNC_PROTOCOL } from '../../../src/consensus/crdt/constants.ts'
import { SyncType } from '../../../src/consensus/crdt/codec.ts'
import { SyncMessageReader, sendSyncMessage } from '../../../src/consensus/crdt/sync-session.ts'
import { Cluster, RecordingTelemetry } from './harness.ts'

/** a full garbage collection, so that what is only weakly held is gone */
async function collectGarbage (): Promise<void> {
  setFlagsFromString('--expose-gc')
  const gc = runInNewContext('gc') as () => void
  await new Promise(resolve => setImmediate(resolve)) // weak references read in this turn stay alive until it ends
  gc()
}

let cluster: Cluster | undefined
afterEach(async () => { await cluster?.stopAll(); cluster = undefined })

describe('catch-up of big docs', () => {
  it('a late joiner stores the big step 2 as received, and restarts with it without any peer', async () => {
    cluster = await Cluster.create(['a', 'b'])
    const da = await cluster.peer('a').replicator.replicateState('big', { replicas: 0 })
    da.getText('t').insert(0, 'x'.repeat(300_000))
    da.getMap('m').set('k', 'v')
    await cluster.peer('a').replicator.flush(da, { minReplicas: 0 })
    const db = await cluster.peer('b').replicator.replicateState('big', { replicas: 0, syncFrom: ['a'] })
    assert.equal(db.getText('t').length, 300_000)
    await cluster.peer('b').replicator.flush(db, { minReplicas: 0 })
    await cluster.stop('a')
    await cluster.restart('b')
    const restored = cluster.peer('b').replicator.getDoc('big')
    assert.equal(restored.getText('t').length, 300_000)
    assert.equal(restored.getMap('m').get('k'), 'v')
    // and it keeps taking small updates on top, persisted the ordinary way
    restored.getMap('m').set('after', 1)
    await cluster.peer('b').replicator.flush(restored, { minReplicas: 0 })
    await cluster.restart('b')
    assert.equal(cluster.peer('b').replicator.getDoc('big').getMap('m').get('after'), 1)
  })

  it('late joiners get the doc as it is when they join, not an encoding from before a change', async () => {
    cluster = await Cluster.create(['a', 'j1', 'j2'])
    const ra = cluster.peer('a').replicator
    const da = await ra.replicateState('moving', { replicas: 0 })
    da.getText('t').insert(0, 'y'.repeat(100_000))
    await ra.flush(da, { minReplicas: 0 })
    const d1 = await cluster.peer('j1').replicator.replicateState('moving', { replicas: 0, syncFrom: ['a'] })
    assert.equal(d1.getText('t').length, 100_000)
    da.getText('t').insert(0, 'new')
    cluster.net.dropRate = 1 // j2 must get the change from its own catch-up, not from gossip
    await cluster.settle()
    const d2 = await cluster.peer('j2').replicator.replicateState('moving', { replicas: 0, syncFrom: ['a'] })
    assert.equal(d2.getText('t').length, 100_003)
    assert.equal(d2.getText('t').toString().slice(0, 4), 'newy')
  })

  it('late joiners in a row share one encoding of the doc, even across garbage collections, until it has been unasked for a while', async () => {
    const telemetry = new RecordingTelemetry()
    cluster = await Cluster.create(['a', 'j1', 'j2', 'j3'], { telemetry })
    const ra = cluster.peer('a').replicator
    const da = await ra.replicateState('popular', { replicas: 0 })
    da.getText('t').insert(0, 'p'.repeat(200_000))
    await ra.flush(da, { minReplicas: 0 })
    // encodings made anywhere in the cluster while `id` joins (a joiner encodes its own empty doc too)
    const encodesDuring = async (id: string): Promise<number> => {
      const before = telemetry.sum('agentmesh_crdt_full_state_encodes_total')
      const d = await cluster!.peer(id).replicator.replicateState('popular', { replicas: 0, syncFrom: ['a'] })
      assert.equal(d.getText('t').length, 200_000)
      return telemetry.sum('agentmesh_crdt_full_state_encodes_total') - before
    }
    const first = await encodesDuring('j1')
    await collectGarbage()
    const second = await encodesDuring('j2')
    assert.ok(second < first, `the second late joiner was answered with a fresh encoding (${second} encodings, first ${first})`)
    // nobody asks for it past FULL_STATE_KEEP_MS: the anti-entropy round lets the copy go
    await cluster.tick(FULL_STATE_KEEP_MS + 2_000, 1_000)
    await collectGarbage()
    const third = await encodesDuring('j3')
    assert.ok(third > second, 'the encoding was kept alive after nobody asked for it')
  })

  it('a late joiner has the doc once the holder\'s step 2 is applied, without waiting for the rest of the exchange', async () => {
    cluster = await Cluster.create(['j'])
    // a holder speaking the protocol by hand, which keeps its DONE back until told
    const source = new Y.Doc()
    source.getText('t').insert(0, 'all of it')
    const holder = cluster.net.connect('h')
    let releaseDone!: () => void
    const doneGate = new Promise<void>(resolve => { releaseDone = resolve })
    let unhandle = (): void => {}
    const served = new Promise<string>((resolve, reject) => {
      unhandle = holder.handle(SYNC_PROTOCOL, (stream) => {
        void (async () => {
          const reader = new SyncMessageReader(stream, 1 << 20)
          const open = await reader.next()
          if (open?.type !== SyncType.Open) throw new Error('expected OPEN')
          await sendSyncMessage(stream, { type: SyncType.Sync, payload: encoding.encode(e => { syncProtocol.writeSyncStep1(e, source) }) })
          await sendSyncMessage(stream, { type: SyncType.Sync, payload: encoding.encode(e => { syncProtocol.writeSyncStep2(e, source) }) })
          await doneGate
          await sendSyncMessage(stream, { type: SyncType.Done })
          const kinds: string[] = []
          for (let m = await reader.next(); m != null; m = await reader.next()) kinds.push(String(m.type))
          await stream.close()
          resolve(kinds.join(','))
        })().catch(reject)
      })
    })
    await cluster.settle()
    const deadline = new Promise<never>((resolve, reject) => { setTimeout(() => { reject(new Error('replicateState waited for the DONE')) }, 10_000).unref() })
    const doc = await Promise.race([cluster.peer('j').replicator.replicateState('early', { replicas: 0, syncFrom: ['h'] }), deadline])
    assert.equal(doc.getText('t').toString(), 'all of it')
    // the exchange still ends properly for the holder: it gets the joiner's step 1, step 2 and DONE
    releaseDone()
    assert.equal(await served, [SyncType.Sync, SyncType.Sync, SyncType.Done].join(','))
    unhandle()
    cluster.net.disconnect('h')
  })

  it('the first late joiner after a compaction gets the encoding the compaction made, even across a garbage collection', async () => {
    const telemetry = new RecordingTelemetry()
    cluster = await Cluster.create(['a', 'j1', 'j2'], { telemetry, init: { compactAfterUpdates: 20 } })
    const ra = cluster.peer('a').replicator
    const encodes = (): number => telemetry.sum('agentmesh_crdt_full_state_encodes_total')
    const compacted = await ra.replicateState('compacted', { replicas: 0 })
    const plain = await ra.replicateState('plain', { replicas: 0 })
    plain.getText('t').insert(0, 'q'.repeat(50_000))
    await ra.flush(plain, { minReplicas: 0 })
    const beforeWrites = encodes()
    // a burst of 50 writes: once it is written the log (past 20 entries) is compacted into the doc's encoding
    for (let i = 0; i < 50; i++) compacted.getText('t').insert(compacted.getText('t').length, 'c'.repeat(1000))
    await ra.flush(compacted, { minReplicas: 0 })
    const deadline = Date.now() + 10_000
    while (encodes() === beforeWrites) {
      assert.ok(Date.now() < deadline, 'the update log was never compacted')
      await cluster.settle()
    }
    await collectGarbage()
    const encodesDuring = async (id: string, docId: string, length: number): Promise<number> => {
      const before = encodes()
      const d = await cluster!.peer(id).replicator.replicateState(docId, { replicas: 0, syncFrom: ['a'] })
      assert.equal(d.getText('t').length, length)
      return encodes() - before
    }
    const afterCompaction = await encodesDuring('j1', 'compacted', 50_000)
    const withoutCompaction = await encodesDuring('j2', 'plain', 50_000)
    assert.ok(afterCompaction < withoutCompaction, `the holder encoded the compacted doc again (${afterCompaction} encodings, ${withoutCompaction} for a doc never compacted)`)
  })
})
