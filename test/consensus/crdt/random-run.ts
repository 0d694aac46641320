// Seeded randomized convergence, the Yjs way: random edits on random peers while gossip drops,
// partitions, disconnects and restarts from storage happen; in the end every holder's doc is identical.
import * as Y from 'yjs'
import { seededRng } from '../../../src/util/prng.ts'
import { Cluster, docContent } from './harness.ts'
import { randomEdit } from './random-edits.ts'
import { docFingerprint } from '../../../src/consensus/crdt/vectors.ts'

export interface RandomRunOptions {
  seed: number
  steps: number
  docs?: number
}

export interface RandomRunResult {
  peers: number
  edits: number
  restarts: number
  partitions: number
  rounds: number
}

export async function randomConvergenceRun (options: RandomRunOptions): Promise<RandomRunResult> {
  const rng = seededRng(options.seed)
  const ids = Array.from({ length: 3 + rng.int(3) }, (_, i) => `p${i}`)
  const docIds = Array.from({ length: options.docs ?? 2 }, (_, i) => `doc-${i}`)
  const cluster = await Cluster.create(ids, { seed: options.seed, init: { compactAfterUpdates: 20 } })
  const result: RandomRunResult = { peers: ids.length, edits: 0, restarts: 0, partitions: 0, rounds: 0 }
  const memberOf = new Map<string, string[]>()
  const replicasOf = new Map(docIds.map(d => [d, rng.int(3)]))
  // every edit also appends a unique token: none may be lost, whatever crashed or partitioned
  const tokens = new Map<string, string[]>(docIds.map(d => [d, []]))
  try {
    for (const id of ids) {
      const mine = docIds.filter(() => rng.next() < 0.7)
      memberOf.set(id, mine)
      for (const d of mine) await cluster.peer(id).replicator.replicateState(d, { replicas: replicasOf.get(d), conflictPolicy: policyOf(d) })
    }
    const running = (): string[] => ids.filter(id => cluster.peers.has(id))
    for (let step = 0; step < options.steps; step++) {
      const r = rng.next()
      if (r < 0.55) {
        const id = running()[rng.int(running().length)]
        const mine = memberOf.get(id)!
        if (mine.length === 0) continue
        const docId = mine[rng.int(mine.length)]
        randomEdit(rng, cluster.peer(id).replicator, docId)
        const token = `${id}:${result.edits}`
        cluster.peer(id).replicator.getDoc(docId).getArray<string>('log').push([token])
        tokens.get(docId)!.push(token)
        result.edits++
      } else if (r < 0.62) {
        cluster.net.dropRate = [0, 0.3, 0.7, 1][rng.int(4)]
      } else if (r < 0.68) {
        const a: string[] = []; const b: string[] = []
        for (const id of ids) (rng.next() < 0.5 ? a : b).push(id)
        cluster.net.partition([a, b])
        result.partitions++
      } else if (r < 0.73) {
        cluster.net.heal()
      } else if (r < 0.79) {
        if (running().length > 1) await cluster.stop(running()[rng.int(running().length)])
      } else if (r < 0.85) {
        const stopped = ids.filter(id => !cluster.peers.has(id))
        if (stopped.length > 0) { await restartPeer(cluster, stopped[rng.int(stopped.length)], memberOf, replicasOf, tokens, options.seed); result.restarts++ }
      } else if (r < 0.95) {
        await cluster.tick(rng.int(1500) + 1, 250)
      } else {
        await cluster.settle()
      }
    }
    cluster.net.heal()
    cluster.net.dropRate = 0
    for (const id of ids) if (!cluster.peers.has(id)) await restartPeer(cluster, id, memberOf, replicasOf, tokens, options.seed)
    for (let round = 0; round < 40; round++) {
      await cluster.settle()
      if (converged(cluster, docIds)) break
      await cluster.tick(1000, 250)
      result.rounds = round + 1
    }
    const report = contents(cluster, docIds)
    for (const [docId, byPeer] of report) {
      const distinct = new Set(byPeer.values())
      if (distinct.size > 1) {
        throw new Error(`seed ${options.seed}: ${docId} differs between holders ${JSON.stringify(Object.fromEntries(byPeer))}. Replay with SEED=${options.seed}`)
      }
    }
    for (const [docId, expected] of tokens) {
      for (const [id, p] of cluster.peers) {
        if (!p.replicator.docIds().includes(docId)) continue
        const have = new Set(p.replicator.getDoc(docId).getArray<string>('log').toArray())
        const lost = expected.filter(t => !have.has(t))
        if (lost.length > 0) throw new Error(`seed ${options.seed}: ${id} lost ${lost.length} writes of ${docId} (${lost.slice(0, 5).join(', ')}). Replay with SEED=${options.seed}`)
      }
    }
    return result
  } finally {
    await cluster.stopAll()
  }
}

/** doc-1 keeps its key-value map under last-writer-wins, the others under the CRDT's own merge */
function policyOf (docId: string): 'lww' | 'crdt' {
  return docId === 'doc-1' ? 'lww' : 'crdt'
}

async function restartPeer (cluster: Cluster, id: string, memberOf: Map<string, string[]>, replicasOf: Map<string, number>, tokens: Map<string, string[]>, seed: number): Promise<void> {
  const p = await cluster.start(id)
  for (const d of memberOf.get(id)!) {
    const doc = await p.replicator.replicateState(d, { replicas: replicasOf.get(d), conflictPolicy: policyOf(d) })
    // what this peer wrote itself must be back from its own storage, before any sync
    const have = new Set(doc.getArray<string>('log').toArray())
    const lost = tokens.get(d)!.filter(t => t.startsWith(`${id}:`) && !have.has(t))
    if (lost.length > 0) throw new Error(`seed ${seed}: ${id} restarted without its own writes ${lost.slice(0, 5).join(', ')} of ${d}. Replay with SEED=${seed}`)
  }
}

function contents (cluster: Cluster, docIds: string[]): Map<string, Map<string, string>> {
  const out = new Map<string, Map<string, string>>()
  for (const docId of docIds) {
    const byPeer = new Map<string, string>()
    for (const [id, p] of cluster.peers) {
      if (!p.replicator.docIds().includes(docId)) continue
      const doc = p.replicator.getDoc(docId)
      // equal content, state vector and fingerprint: converged docs must not keep re-syncing
      byPeer.set(id, docContent(doc) + ' sv=' + Buffer.from(Y.encodeStateVector(doc)).toString('hex') + ' fp=' + docFingerprint(doc))
    }
    out.set(docId, byPeer)
  }
  return out
}

function converged (cluster: Cluster, docIds: string[]): boolean {
  for (const byPeer of contents(cluster, docIds).values()) if (new Set(byPeer.values()).size > 1) return false
  return true
}
