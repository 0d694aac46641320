/**
 * Agent state documents stay bounded: the owner compacts the state into a fresh generation doc
 * (live values and reply records only), replicas drop the replaced one, and a new owner finds the
 * current generation, every acknowledged turn in it. Over the simulated network (replicators with
 * a ManualClock), turns made as the agent host makes them: state written, reply recorded, commit.
 */
import { afterEach, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import * as Y from 'yjs'
import { Cluster } from '../consensus/crdt/harness.ts'
import { AgentStateDocs, stateDocId, type OpenedState } from '../../src/agents/state-docs.ts'
import { ReplyRecords } from '../../src/agents/reply-records.ts'
import { componentLogger } from '../../src/util/logger.ts'
import { seededRng } from '../../src/util/prng.ts'

let cluster: Cluster | undefined
afterEach(async () => { await cluster?.stopAll(); cluster = undefined })

const AGENT = 'c1'
/**
 * a compacted generation stays within a few KB whatever the turn count; without compaction a turn
 * that sets the value and records a reply leaves ~18 bytes of tombstones (19 KB after 1,000 turns,
 * 73 KB after 4,000)
 */
const GENERATION_BOUND_BYTES = 16 * 1024

function stateDocs (c: Cluster, peer: string, checkTurns = 100): AgentStateDocs {
  return new AgentStateDocs({
    docs: c.peer(peer).replicator,
    healthy: () => true,
    writeConcern: () => 1,
    clock: c.clock,
    log: componentLogger(`test:state-${peer}`),
    rng: seededRng(peer.length * 7919),
    compactCheckTurns: checkTurns,
    compactMinGarbageBytes: 4096
  })
}

/** a counter turn: inc, reply recorded under the message id (as for a durable send or a keyed request), committed */
async function turn (c: Cluster, sd: AgentStateDocs, opened: OpenedState, records: ReplyRecords, i: number): Promise<number> {
  const value = (opened.state.get('value') ?? 0) + 1
  opened.state.set('value', value)
  records.record(`msg-${i}`, { value })
  await c.settled(sd.commit(AGENT), `turn ${i}`)
  return value
}

function encodedBytes (c: Cluster, peer: string, docId: string): number {
  return Y.encodeStateAsUpdate(c.peer(peer).replicator.getDoc(docId)).byteLength
}

describe('agent state compaction', () => {
  it('the state doc stays under a bound that does not grow with the turns; replicas drop replaced generations', async (t) => {
    cluster = await Cluster.create(['owner', 'r1', 'r2'])
    const c = cluster
    const sd = stateDocs(c, 'owner')
    const opened = await c.settled(sd.open(AGENT, { fresh: true }), 'open')
    const records = new ReplyRecords(opened.replies, c.clock, { max: 32 })
    const sizes: number[] = []
    const rootSizes: number[] = []
    let value = 0
    for (let i = 1; i <= 4000; i++) {
      value = await turn(c, sd, opened, records, i)
      if (i === 1000 || i === 4000) {
        sizes.push(encodedBytes(c, 'owner', sd.currentDocId(AGENT)!))
        rootSizes.push(encodedBytes(c, 'owner', stateDocId(AGENT)))
      }
    }
    assert.equal(value, 4000)
    t.diagnostic(`after 1,000 / 4,000 turns: generation ${sizes.join(' / ')} bytes, root ${rootSizes.join(' / ')} bytes`)
    for (const size of sizes) assert.ok(size < GENERATION_BOUND_BYTES, `state doc ${size} bytes after 1000 and 4000 turns (bound ${GENERATION_BOUND_BYTES}): ${sizes.join(', ')}`)
    const current = sd.currentDocId(AGENT)!
    assert.match(current, /^agent\/c1\/g\d+-[0-9a-f]{8}$/, 'the state moved to a generation doc')
    // the root keeps the first turns' leftovers (until the first compaction) and a pointer rewritten per compaction
    assert.ok(rootSizes[1] < GENERATION_BOUND_BYTES && rootSizes[1] - rootSizes[0] < 1024, `root ${rootSizes.join(' then ')} bytes`)
    assert.deepEqual(c.peer('owner').replicator.docIds().sort(), [stateDocId(AGENT), current].sort(), 'the owner dropped every replaced generation')
    // replicas: the current generation at the same size bound, and nothing replaced kept
    await c.until(() => ['r1', 'r2'].every(r => c.peer(r).replicator.docIds().sort().join() === [stateDocId(AGENT), current].sort().join()), 30, 'replicas to drop the replaced generations')
    for (const r of ['r1', 'r2']) {
      assert.ok(encodedBytes(c, r, current) < GENERATION_BOUND_BYTES)
      const kv = c.peer(r).replicator.keyValue(current, 'state')
      assert.equal(kv.get('value'), 4000, `${r} holds every turn`)
    }
  })

  it('a new owner after the switch reads every acknowledged turn, also from a replica that kept the old generation', async () => {
    cluster = await Cluster.create(['owner', 'r1', 'r2'])
    const c = cluster
    const sd = stateDocs(c, 'owner', 1_000_000)
    const opened = await c.settled(sd.open(AGENT, { fresh: true }), 'open')
    const records = new ReplyRecords(opened.replies, c.clock)
    let i = 0
    for (; i < 50; i++) await turn(c, sd, opened, records, i)
    await c.settled(sd.compact(AGENT), 'first compaction')
    const first = sd.currentDocId(AGENT)!
    for (; i < 100; i++) await turn(c, sd, opened, records, i)
    // r2 is cut off: it keeps the first generation (value 100) and a root that points at it
    c.net.partition([['owner', 'r1'], ['r2']])
    await c.settled(sd.compact(AGENT), 'second compaction')
    const second = sd.currentDocId(AGENT)!
    assert.notEqual(second, first)
    let acked = 0
    for (; i < 120; i++) acked = await turn(c, sd, opened, records, i)
    assert.equal(acked, 120)
    assert.ok(c.peer('r2').replicator.docIds().includes(first), 'r2 still holds the replaced generation')
    // the owner dies right after the switch; the network heals; r2 takes the agent over
    await c.stop('owner')
    c.net.heal()
    const next = stateDocs(c, 'r2')
    const reopened = await c.settled(next.open(AGENT, { compact: true }), 'open on r2')
    assert.equal(reopened.state.get('value'), 120, 'every acknowledged turn, none from the stale copy')
    assert.deepEqual(new ReplyRecords(reopened.replies, c.clock).get('msg-110')?.reply, { value: 111 }, 'reply records came along')
    assert.ok(!c.peer('r2').replicator.docIds().includes(first), 'r2 dropped the generation it had kept')
    // and it goes on from there
    const more = new ReplyRecords(reopened.replies, c.clock)
    assert.equal(await turn(c, next, reopened, more, 120), 121)
  })

  it('a generation no reachable peer holds is not taken for empty state', async () => {
    cluster = await Cluster.create(['owner', 'r1'])
    const c = cluster
    const sd = stateDocs(c, 'owner', 1_000_000)
    const opened = await c.settled(sd.open(AGENT, { fresh: true }), 'open')
    const records = new ReplyRecords(opened.replies, c.clock)
    for (let i = 0; i < 5; i++) await turn(c, sd, opened, records, i)
    await c.settled(sd.compact(AGENT), 'compaction')
    const gen = sd.currentDocId(AGENT)!
    // r1 has the root (pointer included) but loses the generation
    await c.settled(c.peer('r1').replicator.release(gen, { purge: true }), 'release on r1')
    await c.stop('owner')
    const next = stateDocs(c, 'r1')
    await assert.rejects(c.settled(next.open(AGENT), 'open on r1'), { name: 'UnreachableError' })
  })

  it('after a split, the next owner\'s acknowledged turns outlive the deposed owner\'s late write (writer epochs)', async () => {
    // Yjs orders concurrent writes of a key by client id, random per run: a few rounds reach both orders
    for (let round = 0; round < 4; round++) {
      cluster = await Cluster.create(['owner', 'r1', 'r2'])
      const c = cluster
      const sd = stateDocs(c, 'owner', 1_000_000)
      const opened = await c.settled(sd.open(AGENT, { fresh: true, epoch: 5 }), 'open')
      const records = new ReplyRecords(opened.replies, c.clock)
      let i = 0
      for (; i < 10; i++) await turn(c, sd, opened, records, i)
      // the owner is cut off; r1 takes the agent over under the next epoch and acknowledges turns
      c.net.partition([['owner'], ['r1', 'r2']])
      const next = stateDocs(c, 'r1')
      const reopened = await c.settled(next.open(AGENT, { epoch: 6 }), 'open on r1')
      assert.equal(reopened.state.get('value'), 10)
      const more = new ReplyRecords(reopened.replies, c.clock)
      let acked = 0
      for (; i < 15; i++) acked = await turn(c, next, reopened, more, i)
      assert.equal(acked, 15)
      // the deposed owner, not yet told, takes one more turn on its own copy (never acknowledged)
      opened.state.set('value', 11)
      c.net.heal()
      await c.until(() => ['owner', 'r1', 'r2'].every(p => c.peer(p).replicator.keyValue(sd.currentDocId(AGENT)!, 'state').get('value') === 15), 30,
        `every peer to read the next owner's 15 (round ${round})`)
      await c.stopAll()
      cluster = undefined
    }
  })
})
