/**
 * Snapshots and compaction through the driver: with a low snapshot threshold the log is compacted
 * behind KV snapshots; a peer joining late is caught up by a chunked snapshot holding real data,
 * and a peer restarted from its storage comes back from its own snapshot plus log.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { eventually, startConsensusPeer } from './cluster.ts'
import type { ConsensusPeer } from './cluster.ts'

const small = { snapshotEveryEntries: 20, compactKeepEntries: 5 }

describe('consensus snapshots', { timeout: 120_000 }, () => {
  it('compacts the log, catches up a late joiner by snapshot and restarts from one', async () => {
    let peers: ConsensusPeer[] = []
    try {
      const relay = await startConsensusPeer({ role: 'relay', consensus: small })
      peers = [relay, ...await Promise.all([1, 2].map(async () => await startConsensusPeer({ bootstrap: relay.addrs(), consensus: small })))]
      await eventually(() => peers.every(p => p.consensus.status().voters.length === 3 && p.consensus.status().role !== 'learner'), 40_000, 'a group of 3 voters')
      const big = 'x'.repeat(20_000)
      for (let i = 0; i < 60; i++) await peers[i % 3].consensus.kv.put(`k/${String(i).padStart(2, '0')}`, { i, big })
      await eventually(() => peers.every(p => p.consensus.status().snapshotIndex > 40), 10_000, 'snapshots on every peer')

      const late = await startConsensusPeer({ bootstrap: relay.addrs(), consensus: small })
      peers.push(late)
      await eventually(() => late.consensus.status().role !== 'none' && late.consensus.status().appliedIndex >= relay.consensus.status().commitIndex, 30_000, 'the late joiner to catch up')
      const r = await late.consensus.kv.range('k/')
      assert.equal(r.kvs.length, 60)
      assert.deepEqual(r.kvs[59].value, { i: 59, big })

      const victim = peers[1]
      await victim.stop()
      peers = peers.filter(p => p !== victim)
      await peers[0].consensus.kv.put('k/after', 'restart')
      const back = await startConsensusPeer({ key: victim.key, store: victim.store, bootstrap: relay.addrs(), consensus: small })
      peers.push(back)
      assert.ok(back.consensus.status().snapshotIndex > 40, 'restarted from its own snapshot')
      await eventually(async () => (await back.consensus.kv.get('k/after'))?.value === 'restart', 30_000, 'the restarted peer to read the latest write')
      assert.deepEqual((await back.consensus.kv.get('k/07'))?.value, { i: 7, big })
    } finally {
      await Promise.allSettled(peers.map(async p => { await p.stop() }))
    }
  })
})
