/**
 * The per-document fence (issue 9: nothing acknowledged is lost and nothing is done twice). An
 * owner is cut off and deposed; the next owner activates under a higher epoch from the replicas;
 * the deposed owner's turn in flight writes its state and reply record locally (never
 * acknowledged: the turn fence withholds the reply and the request is re-sent). When the cut
 * heals, those writes reach every replica, but the next owner's fence hides them: the turn's item,
 * its counter value and its reply record, on every peer, so the re-sent request runs once at the
 * next owner and its effect shows once. Over the simulated network (ManualClock), turns made as the
 * agent host makes them: state written, reply recorded, commit.
 */
import { afterEach, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import * as Y from 'yjs'
import { Cluster } from '../consensus/crdt/harness.ts'
import { decodeKvEntry, successorOf, type StoredKvEntry } from '../../src/consensus/crdt/index.ts'
import { AgentStateDocs, stateDocId, type OpenedState } from '../../src/agents/state-docs.ts'
import { ReplyRecords } from '../../src/agents/reply-records.ts'
import { componentLogger } from '../../src/util/logger.ts'
import { seededRng } from '../../src/util/prng.ts'

let cluster: Cluster | undefined
afterEach(async () => { await cluster?.stopAll(); cluster = undefined })

const AGENT = 'f1'
const PEERS = ['owner', 'r1', 'r2']

function stateDocs (c: Cluster, peer: string, writeConcern = (): number => 1): AgentStateDocs {
  return new AgentStateDocs({
    docs: c.peer(peer).replicator,
    healthy: () => true,
    writeConcern,
    clock: c.clock,
    log: componentLogger(`test:fence-${peer}`),
    rng: seededRng(peer.length * 104_729),
    compactCheckTurns: 1_000_000
  })
}

/** a turn's writes, as a handler makes them: the counter, an appended item, the reply record */
function writeTurn (opened: OpenedState, records: ReplyRecords, messageId: string, by: string): number {
  const value = (opened.state.get('value') ?? 0) + 1
  opened.state.set('value', value)
  opened.state.set(`item-${by}-${value}`, messageId)
  records.record(messageId, { value, by })
  return value
}

/** a whole turn: answered from the reply record when there is one, else written and committed */
async function turn (c: Cluster, sd: AgentStateDocs, opened: OpenedState, records: ReplyRecords, messageId: string, by: string): Promise<unknown> {
  const recorded = records.get(messageId)
  if (recorded != null) return recorded.reply
  const value = writeTurn(opened, records, messageId, by)
  await c.settled(sd.commit(AGENT), `turn ${messageId}`)
  return { value, by }
}

/** every running peer holds the same updates of the agent's docs */
function converged (c: Cluster, docIds: string[]): boolean {
  return docIds.every(id => {
    const vectors = PEERS.map(p => Buffer.from(Y.encodeStateVector(c.peer(p).replicator.getDoc(id))).toString('hex'))
    return vectors.every(v => v === vectors[0])
  })
}

/** what each peer reads of the state and of one reply record */
function views (c: Cluster, genId: string, messageId: string): Array<{ state: unknown, reply: unknown }> {
  return PEERS.map(p => ({
    state: c.peer(p).replicator.keyValue(genId, 'state').toJSON(),
    reply: (c.peer(p).replicator.keyValue(genId, 'replies').get(messageId) as { r?: unknown } | undefined)?.r
  }))
}

/**
 * the owner (epoch 5) acknowledges 3 turns and compacts once (root and generation both in play);
 * it is cut off, r1 activates under epoch 6, the owner writes a late turn for `msg-late`
 */
async function deposedOwnerScenario (): Promise<{ c: Cluster, next: AgentStateDocs, reopened: OpenedState, nextRecords: ReplyRecords, genId: string }> {
  cluster = await Cluster.create(PEERS)
  const c = cluster
  const sd = stateDocs(c, 'owner')
  const opened = await c.settled(sd.open(AGENT, { fresh: true, epoch: 5 }), 'open')
  const records = new ReplyRecords(opened.replies, c.clock)
  for (let i = 1; i <= 2; i++) await turn(c, sd, opened, records, `msg-${i}`, 'owner')
  await c.settled(sd.compact(AGENT), 'compaction')
  await turn(c, sd, opened, records, 'msg-3', 'owner')
  const genId = sd.currentDocId(AGENT)!
  c.net.partition([['owner'], ['r1', 'r2']])
  const next = stateDocs(c, 'r1')
  const reopened = await c.settled(next.open(AGENT, { epoch: 6 }), 'open on r1')
  assert.equal(next.currentDocId(AGENT), genId)
  assert.equal(reopened.state.get('value'), 3, 'r1 took over every acknowledged turn')
  // the deposed owner's turn in flight: written on its copy, never acknowledged
  writeTurn(opened, records, 'msg-late', 'owner')
  return { c, next, reopened, nextRecords: new ReplyRecords(reopened.replies, c.clock), genId }
}

const AFTER_ONE_RUN = { value: 4, 'item-owner-1': 'msg-1', 'item-owner-2': 'msg-2', 'item-owner-3': 'msg-3', 'item-r1-4': 'msg-late' }

describe('the per-document fence of agent state', () => {
  it('the deposed owner\'s late reply record does not answer the re-send at the next owner; the turn runs once', async () => {
    const { c, next, reopened, nextRecords, genId } = await deposedOwnerScenario()
    c.net.heal()
    await c.until(() => converged(c, [genId, stateDocId(AGENT)]), 30, 'the late turn to reach every peer')
    for (const v of views(c, genId, 'msg-late')) {
      assert.deepEqual(v, { state: { value: 3, 'item-owner-1': 'msg-1', 'item-owner-2': 'msg-2', 'item-owner-3': 'msg-3' }, reply: undefined }, 'the late turn is hidden everywhere')
    }
    assert.equal(nextRecords.get('msg-late'), undefined, 'no reply record answers the re-send')
    assert.deepEqual(await turn(c, next, reopened, nextRecords, 'msg-late', 'r1'), { value: 4, by: 'r1' }, 'the re-send runs at the next owner')
    // an acknowledged turn's record, taken over with the state, still answers its retry
    assert.deepEqual(await turn(c, next, reopened, nextRecords, 'msg-3', 'r1'), { value: 3, by: 'owner' })
    await c.until(() => converged(c, [genId, stateDocId(AGENT)]), 30, 'the re-run turn to reach every peer')
    for (const v of views(c, genId, 'msg-late')) assert.deepEqual(v, { state: AFTER_ONE_RUN, reply: { value: 4, by: 'r1' } }, 'applied once, everywhere')
  })

  it('the re-send run at the next owner before the heal is not doubled by the late turn after it', async () => {
    const { c, next, reopened, nextRecords, genId } = await deposedOwnerScenario()
    assert.deepEqual(await turn(c, next, reopened, nextRecords, 'msg-late', 'r1'), { value: 4, by: 'r1' })
    c.net.heal()
    await c.until(() => converged(c, [genId, stateDocId(AGENT)]), 30, 'the late turn to reach every peer')
    for (const v of views(c, genId, 'msg-late')) assert.deepEqual(v, { state: AFTER_ONE_RUN, reply: { value: 4, by: 'r1' } }, 'one item, one increment')
  })

  it('compaction after the heal copies only what is visible: the late turn is gone from the new generation', async () => {
    const { c, next, genId } = await deposedOwnerScenario()
    c.net.heal()
    await c.until(() => converged(c, [genId, stateDocId(AGENT)]), 30, 'the late turn to reach every peer')
    await c.settled(next.compact(AGENT), 'compaction on r1')
    const newId = next.currentDocId(AGENT)!
    assert.notEqual(newId, genId)
    const stored = (name: string): string[] => c.peer('r1').replicator.getDoc(newId).getArray<StoredKvEntry>(name).toArray().map(e => decodeKvEntry(e)?.k ?? '?').sort()
    assert.deepEqual(stored('state'), ['item-owner-1', 'item-owner-2', 'item-owner-3', 'value'])
    assert.deepEqual(stored('replies'), ['msg-1', 'msg-2', 'msg-3'])
    await c.until(() => PEERS.every(p => c.peer(p).replicator.keyValue(newId, 'state').get('value') === 3 && !c.peer(p).replicator.docIds().includes(genId)), 30,
      'every peer to read the new generation and drop the old one')
  })

  it('a late compaction by the deposed owner does not move the root: the owner after next takes over the next owner\'s generation', async () => {
    cluster = await Cluster.create(PEERS)
    const c = cluster
    let ownerConcern = 1
    const sd = stateDocs(c, 'owner', () => ownerConcern)
    const opened = await c.settled(sd.open(AGENT, { fresh: true, epoch: 5, compact: true }), 'open')
    const genId = sd.currentDocId(AGENT)!
    assert.match(genId, /\/g0-[0-9a-f]{8}$/, 'an owner starts a new agent in a generation')
    const records = new ReplyRecords(opened.replies, c.clock)
    for (let i = 1; i <= 3; i++) await turn(c, sd, opened, records, `msg-${i}`, 'owner')
    c.net.partition([['owner'], ['r1', 'r2']])
    const next = stateDocs(c, 'r1')
    const reopened = await c.settled(next.open(AGENT, { epoch: 6, compact: true }), 'open on r1')
    assert.equal(next.currentDocId(AGENT), genId)
    const nextRecords = new ReplyRecords(reopened.replies, c.clock)
    for (let i = 4; i <= 5; i++) await turn(c, next, reopened, nextRecords, `msg-${i}`, 'r1')
    // the deposed owner, believing itself alone, takes a turn and compacts: a new generation, the
    // root pointed at it, the generation the next owner writes to marked retired
    ownerConcern = 0
    writeTurn(opened, records, 'msg-late', 'owner')
    await c.settled(sd.compact(AGENT), 'the deposed owner\'s compaction')
    const lateId = sd.currentDocId(AGENT)!
    assert.notEqual(lateId, genId)
    c.net.heal()
    const pointer = (p: string): unknown => c.peer(p).replicator.keyValue(stateDocId(AGENT), 'meta').get('doc')
    // every update of the owner's root (its late pointer) on r1 and r2
    const holdsAllOf = (p: string, from: string, id: string): boolean => {
      const have = Y.decodeStateVector(Y.encodeStateVector(c.peer(p).replicator.getDoc(id)))
      return [...Y.decodeStateVector(Y.encodeStateVector(c.peer(from).replicator.getDoc(id)))].every(([client, clock]) => (have.get(client) ?? 0) >= clock)
    }
    await c.until(() => ['r1', 'r2'].every(p => holdsAllOf(p, 'owner', stateDocId(AGENT))), 30, 'the late root to reach r1 and r2')
    await c.tick(5_000, 250)
    for (const p of ['r1', 'r2']) {
      assert.equal(pointer(p), genId, `${p}: the root still points at the next owner's generation`)
      assert.ok(c.peer(p).replicator.docIds().includes(genId), `${p} keeps the next owner's generation`)
      assert.equal(successorOf(c.peer(p).replicator.getDoc(genId)), undefined)
      assert.equal(c.peer(p).replicator.keyValue(genId, 'state').get('value'), 5)
    }
    // the owner after next (r2, epoch 7) takes over every acknowledged turn, none of the late one
    const third = stateDocs(c, 'r2')
    const third7 = await c.settled(third.open(AGENT, { epoch: 7 }), 'open on r2')
    assert.equal(third.currentDocId(AGENT), genId)
    assert.deepEqual(third7.state.toJSON(), { value: 5, 'item-owner-1': 'msg-1', 'item-owner-2': 'msg-2', 'item-owner-3': 'msg-3', 'item-r1-4': 'msg-4', 'item-r1-5': 'msg-5' })
    assert.equal(new ReplyRecords(third7.replies, c.clock).get('msg-late'), undefined)
  })
})
