/**
 * The replica set of an agent's state (issue 9: nothing acknowledged is lost). A split puts the
 * owner and the one member of its set that acknowledged its turns on one side; a peer on the other
 * side must not take the agent over from what it can reach there (it would fence the acknowledged
 * turns away for good): its activation fails until the heal, and then takes every acknowledged turn
 * over. An owner whose set is cut away adopts a new one, recorded before it counts, and the next
 * failover reads that. Over the simulated network (ManualClock), turns made as the agent host makes
 * them: state written, reply recorded, commit.
 */
import { afterEach, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { Cluster } from '../consensus/crdt/harness.ts'
import { AgentStateDocs, type OpenedState } from '../../src/agents/state-docs.ts'
import { readQuorum, type ReplicaSet } from '../../src/agents/state-replicas.ts'
import { NotOwnerError, UnreachableError } from '../../src/errors.ts'
import { componentLogger } from '../../src/util/logger.ts'
import { seededRng } from '../../src/util/prng.ts'

let cluster: Cluster | undefined
afterEach(async () => { await cluster?.stopAll(); cluster = undefined })

const AGENT = 'q1'
const PEERS = ['owner', 'p1', 'p2', 'p3']

/** the placement record, as the Raft store keeps it: the set recorded under the latest epoch */
class Records {
  epoch = 0
  set: ReplicaSet | undefined
  writes = 0
  async record (epoch: number, set: ReplicaSet): Promise<void> {
    if (epoch < this.epoch) throw new NotOwnerError(`epoch ${epoch} is stale (${this.epoch})`)
    this.epoch = epoch
    this.set = { replicas: [...set.replicas], acks: set.acks }
    this.writes++
  }
}

function stateDocs (c: Cluster, peer: string, records: Records): AgentStateDocs {
  return new AgentStateDocs({
    docs: c.peer(peer).replicator,
    healthy: (p) => p === peer || c.peer(peer).transport.peers().includes(p),
    writeConcern: () => 1,
    clock: c.clock,
    log: componentLogger(`test:replicas-${peer}`),
    rng: seededRng(peer.length * 7_919),
    compactCheckTurns: 1_000_000,
    replicaSets: { self: peer, record: async (_agentId, epoch, set) => { await records.record(epoch, set) } }
  })
}

/** a turn: an item appended (a unique key, as a one-way message leaves) and the count, committed */
async function turn (c: Cluster, sd: AgentStateDocs, opened: OpenedState, n: number): Promise<void> {
  opened.state.set(`msg-${n}`, n)
  opened.state.set('count', (opened.state.get('count') ?? 0) + 1)
  await c.settled(sd.commit(AGENT), `turn ${n}`)
}

async function open (c: Cluster, sd: AgentStateDocs, epoch: number, records: Records, fresh = false): Promise<OpenedState> {
  return await c.settled(sd.open(AGENT, { epoch, fresh, compact: true, ...(records.set != null ? { replicaSet: records.set } : {}) }), `open under epoch ${epoch}`)
}

describe('the replica set of agent state', () => {
  it('the read quorum meets every write quorum', () => {
    const set = { replicas: ['a', 'b', 'c'], acks: 2 }
    assert.deepEqual(readQuorum(set, 'd'), { peers: ['a', 'b', 'c'], needed: 2 })
    assert.deepEqual(readQuorum(set, 'b'), { peers: ['a', 'c'], needed: 1 }, 'a member counts its own copy')
    assert.deepEqual(readQuorum({ replicas: ['a'], acks: 1 }, 'a'), { peers: [], needed: 0 }, 'a lone peer restarting needs no one')
    assert.deepEqual(readQuorum({ replicas: ['a', 'b', 'c'], acks: 3 }, 'd'), { peers: ['a', 'b', 'c'], needed: 1 })
  })

  it('a split that keeps the owner and its acknowledging member together: the other side waits for the heal, then takes every acknowledged turn over', async () => {
    cluster = await Cluster.create(PEERS)
    const c = cluster
    const records = new Records()
    const owner = stateDocs(c, 'owner', records)
    const opened = await open(c, owner, 5, records, true)
    const set = records.set
    assert.ok(set != null, 'the first activation records a set')
    assert.equal(set.replicas[0], 'owner')
    assert.equal(set.acks, 2, 'the owner and one more')
    assert.equal(set.replicas.length, 3, 'the owner and the two holders it picked')
    const [, acking, other] = set.replicas
    const outsider = PEERS.find(p => !set.replicas.includes(p))!
    await turn(c, owner, opened, 1)
    // the owner keeps one member of its set; the other member and the outsider are cut away
    c.net.partition([['owner', acking], [other, outsider]])
    for (let n = 2; n <= 4; n++) await turn(c, owner, opened, n)
    assert.equal(c.peer(acking).replicator.keyValue(owner.currentDocId(AGENT)!, 'state').get('count'), 4, 'acknowledged on the member on the owner\'s side')
    // the majority side re-places the agent (the owner's lease ran out): neither peer may take it over
    for (const [peer, epoch] of [[outsider, 6], [other, 7]] as const) {
      await assert.rejects(open(c, stateDocs(c, peer, records), epoch, records), (err: Error) => {
        assert.ok(err instanceof UnreachableError, `${peer}: ${err.name}: ${err.message}`)
        assert.match(err.message, /catching up needs/)
        return true
      })
    }
    assert.deepEqual(records.set, set, 'no set recorded by a failed activation')
    c.net.heal()
    const next = stateDocs(c, outsider, records)
    const reopened = await open(c, next, 8, records)
    assert.equal(reopened.state.get('count'), 4, 'every acknowledged turn taken over')
    for (let n = 1; n <= 4; n++) assert.equal(reopened.state.get(`msg-${n}`), n)
    assert.equal(records.epoch, 8)
    assert.equal(records.set?.replicas[0], outsider, 'the new owner recorded its own set')
    await turn(c, next, reopened, 5)
    assert.equal(reopened.state.get('count'), 5)
  })

  it('an owner whose set is cut away adopts a new one before it acknowledges, and the next failover reads that one', async () => {
    cluster = await Cluster.create(PEERS)
    const c = cluster
    const records = new Records()
    const owner = stateDocs(c, 'owner', records)
    const opened = await open(c, owner, 5, records, true)
    const first = records.set!
    const outsider = PEERS.find(p => !first.replicas.includes(p))!
    await turn(c, owner, opened, 1)
    // both holders cut away: the owner's next turn needs a new set, with the outsider
    c.net.partition([['owner', outsider], first.replicas.slice(1)])
    await turn(c, owner, opened, 2)
    assert.deepEqual(records.set, { replicas: ['owner', outsider], acks: 2 }, 'the new set is recorded')
    assert.equal(c.peer(outsider).replicator.keyValue(owner.currentDocId(AGENT)!, 'state').get('count'), 2, 'the new member holds both turns')
    await turn(c, owner, opened, 3)
    // the owner is lost; a holder of the first set, on the other side, must not take over from the first set
    c.net.partition([['owner'], [outsider], first.replicas.slice(1)])
    const former = first.replicas[1]
    await assert.rejects(open(c, stateDocs(c, former, records), 6, records), UnreachableError)
    c.net.partition([['owner'], [outsider, ...first.replicas.slice(1)]])
    const reopened = await open(c, stateDocs(c, former, records), 7, records)
    assert.equal(reopened.state.get('count'), 3, 'taken over from the recorded set, with every acknowledged turn')
  })
})
