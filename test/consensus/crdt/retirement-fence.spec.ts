/**
 * Retirement marks under writer fences: a deposed owner that compacts late marks the generation
 * the next owner now writes to as retired. Every holder used to drop a doc on its mark, the next
 * owner's own copy included (its acknowledged turns with it). The mark carries its writer's epoch
 * and the next owner's fence hides it like any late write; a mark that counts is still obeyed.
 */
import { afterEach, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import * as Y from 'yjs'
import { Cluster } from './harness.ts'
import { fenceDoc, successorOf } from '../../../src/consensus/crdt/index.ts'
import { markRetired } from '../../../src/consensus/crdt/retirement.ts'

function push (from: Y.Doc, to: Y.Doc): void {
  Y.applyUpdate(to, Y.encodeStateAsUpdate(from, Y.encodeStateVector(to)))
}

function docWithClient (client: number): Y.Doc {
  const doc = new Y.Doc()
  doc.clientID = client
  return doc
}

let cluster: Cluster | undefined
afterEach(async () => { await cluster?.stopAll(); cluster = undefined })

describe('retirement marks and writer fences', () => {
  it('a deposed owner\'s late mark does not count where the next owner\'s fence is; the next owner\'s own mark does', () => {
    for (const [ac, bc, rc] of [[1, 2, 3], [3, 2, 1], [2, 3, 1]]) {
      for (const order of ['mark-first', 'fence-first']) {
        const a = docWithClient(ac)
        const b = docWithClient(bc)
        const r = docWithClient(rc)
        a.getMap('m').set('x', 1)
        push(a, b); push(a, r)
        fenceDoc(b, 6)
        markRetired(a, 'agent/x/g1-00000001', 5) // the deposed owner's late compaction
        if (order === 'mark-first') { push(a, r); push(b, r) } else { push(b, r); push(a, r) }
        push(a, b); push(b, a)
        const where = `clients ${ac}/${bc}/${rc}, ${order}`
        assert.deepEqual([successorOf(a), successorOf(b), successorOf(r)], [undefined, undefined, undefined], where)
        markRetired(b, 'agent/x/g1-00000002', 6)
        push(b, a); push(b, r)
        assert.deepEqual([successorOf(a), successorOf(b), successorOf(r)], Array(3).fill('agent/x/g1-00000002'), where)
      }
    }
  })

  it('a mark the next owner took over before its fence counts (it follows it)', () => {
    const a = docWithClient(1)
    const b = docWithClient(2)
    markRetired(a, 'agent/x/g1-00000001', 5)
    push(a, b)
    fenceDoc(b, 6)
    assert.equal(successorOf(b), 'agent/x/g1-00000001')
  })

  it('the next owner and the replicas that have its fence keep the doc when the deposed owner retires it late', async () => {
    cluster = await Cluster.create(['a', 'b', 'r'])
    const c = cluster
    const id = 'agent/x/g0-0000000a'
    const docs = Object.fromEntries(await Promise.all(['a', 'b', 'r'].map(async p => [p, await c.peer(p).replicator.replicateState(id, { replicas: 2 })] as const)))
    docs.a.getMap('m').set('x', 1)
    await c.until(() => ['b', 'r'].every(p => docs[p].getMap('m').get('x') === 1), 30, 'the write to reach b and r')
    fenceDoc(docs.b, 6)
    docs.b.getMap('m').set('x', 2)
    await c.until(() => docs.r.share.has('_agentmesh_fences') && docs.a.getMap('m').get('x') === 2, 30, 'b\'s fence to reach a and r')
    let retired = false
    void c.peer('a').replicator.retire(docs.a, 'agent/x/g1-0000000b', { epoch: 5 }).then(() => { retired = true })
    await c.until(() => retired, 30, 'the deposed owner\'s retire to finish')
    await c.tick(5_000, 250)
    for (const p of ['b', 'r']) {
      assert.ok(c.peer(p).replicator.docIds().includes(id), `${p} keeps the doc`)
      assert.equal(c.peer(p).replicator.getDoc(id).getMap('m').get('x'), 2)
      assert.equal(c.peer(p).replicator.successorOf(id), undefined)
    }
    // b retires it under its own epoch: that mark counts, r drops it
    let done = false
    void c.peer('b').replicator.retire(id, 'agent/x/g1-0000000c', { epoch: 6 }).then(() => { done = true })
    await c.until(() => done && !c.peer('r').replicator.docIds().includes(id), 30, 'r to drop the doc on b\'s mark')
  })
})
