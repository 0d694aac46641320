// Replicated documents between real tabs: the seeded convergence run across two tabs (WebRTC),
// and a doc restored from IndexedDB after its tab reloads.
import { createNode, type MeshNode } from '../../src/node.ts'
import { seededRng } from '../../src/util/prng.ts'
import { decodeKvEntry } from '../../src/consensus/crdt/index.ts'
import { docContent, randomEdit } from '../consensus/crdt/random-edits.ts'
import { assert, loadFixture, openPeerTab, waitFor } from './helpers.ts'

type PeerWindow = Window & { mesh?: MeshNode, meshError?: string }

const SEED = Number(new URLSearchParams(location.search).get('seed') ?? 7)
const STEPS = 300

async function startTab (query: string): Promise<PeerWindow> {
  const w = await openPeerTab(query) as PeerWindow
  await waitFor(() => w.mesh != null || w.meshError != null, 20_000, 'the tab to start its node')
  assert(w.meshError == null, `tab failed: ${w.meshError}`)
  return w
}

async function sleep (ms: number): Promise<void> {
  await new Promise(resolve => setTimeout(resolve, ms))
}

async function deleteDatabase (name: string): Promise<void> {
  await new Promise<void>((resolve) => {
    const req = indexedDB.deleteDatabase(name)
    req.onsuccess = () => { resolve() }
    req.onerror = () => { resolve() }
    req.onblocked = () => { resolve() }
  })
}

describe('replicated documents across tabs', function () {
  this.timeout(120_000)
  let node: MeshNode | undefined
  const tabs: PeerWindow[] = []

  after(async () => {
    for (const t of tabs) { await t.mesh?.stop().catch(() => {}); t.close() }
    await node?.stop()
  })

  it(`seed ${SEED}: random edits on two tabs, with a replicator restart, converge (replay with ?seed=${SEED})`, async () => {
    const fixture = await loadFixture()
    node = await createNode({ mesh: fixture.mesh, bootstrap: [fixture.relay] })
    const other = await startTab(`relay=${encodeURIComponent(fixture.relay)}&mesh=${fixture.mesh}`)
    tabs.push(other)
    const otherId = other.mesh!.peerId
    await waitFor(() => node!.network.member(otherId)?.status === 'alive', 20_000, 'the tabs to see each other')

    const rng = seededRng(SEED)
    const run = `${SEED}-${Date.now()}`
    const docIds = [`conv-${run}-a`, `conv-${run}-b`]
    const sides = [node.docs, other.mesh!.docs]
    for (const docs of sides) {
      for (const [i, id] of docIds.entries()) await docs.replicateState(id, { replicas: 0, conflictPolicy: i === 1 ? 'lww' : 'crdt' })
    }
    let restarts = 0
    for (let step = 0; step < STEPS; step++) {
      const r = rng.next()
      if (r < 0.85) {
        randomEdit(rng, sides[rng.int(2)], docIds[rng.int(docIds.length)])
      } else if (r < 0.97) {
        await sleep(rng.int(20)) // let some edits cross, others stay concurrent
      } else {
        // the other tab's replicator restarts from its store while this tab keeps editing
        const docs = other.mesh!.docs
        await docs.stop()
        for (let i = 0; i < 5; i++) randomEdit(rng, sides[0], docIds[rng.int(docIds.length)])
        await docs.start()
        restarts++
      }
    }
    const contents = (): string[][] => docIds.map(id => sides.map(docs => docContent(docs.getDoc(id))))
    try {
      await waitFor(() => contents().every(([a, b]) => a === b), 30_000, 'both tabs to hold equal docs')
    } catch (err) {
      throw new Error(`seed ${SEED} (${restarts} restarts): ${(err as Error).message}: ${JSON.stringify(contents())}. Replay with ?seed=${SEED}`)
    }
    for (const [a] of contents()) assert(a.length > 20, 'the docs hold content')
  })

  it('a tab reloaded with IndexedDB storage reopens its doc from its own store', async () => {
    const fixture = await loadFixture()
    const dbName = `agentmesh-crdt-reload-${Date.now()}`
    const docId = `private-${Date.now()}`
    const query = `relay=${encodeURIComponent(fixture.relay)}&mesh=${fixture.mesh}&storage=${dbName}`
    const tab = await startTab(query)
    tabs.push(tab)
    try {
      const peerId = tab.mesh!.peerId
      // no replicas: nobody else holds this doc, so what comes back came from IndexedDB
      const doc = await tab.mesh!.docs.replicateState(docId, { replicas: 0, conflictPolicy: 'lww' })
      doc.getMap('m').set('answer', 42)
      for (let i = 0; i < 50; i++) doc.getArray('a').push([i])
      tab.mesh!.docs.keyValue(docId).set('mood', 'calm')
      await tab.mesh!.docs.flush(doc, { minReplicas: 0 })

      tab.location.reload()
      await waitFor(() => tab.mesh == null, 10_000, 'the old page to go')
      await waitFor(() => tab.mesh != null || tab.meshError != null, 20_000, 'the reloaded tab to start its node')
      assert(tab.meshError == null, `reloaded tab failed: ${tab.meshError}`)
      assert(tab.mesh!.peerId === peerId, 'same identity from IndexedDB')
      assert(tab.mesh!.docs.docIds().includes(docId), 'the doc is reopened at start')
      const restored = tab.mesh!.docs.getDoc(docId)
      assert(restored.getMap('m').get('answer') === 42, 'map restored')
      assert(restored.getArray('a').length === 50, 'array restored without duplicates')
      assert(tab.mesh!.docs.keyValue(docId).get('mood') === 'calm', 'key-value restored')
      // the policy came back with it: an lww delete leaves a stamped tombstone
      tab.mesh!.docs.keyValue(docId).delete('mood')
      assert(restored.getArray('state').toArray().map(decodeKvEntry).some(e => e?.k === 'mood' && e.d === 1), 'lww policy restored')
    } finally {
      await tab.mesh?.stop().catch(() => {})
      await deleteDatabase(dbName)
    }
  })
})
