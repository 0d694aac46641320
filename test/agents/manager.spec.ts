/**
 * The DistributedAgentManager on an in-process mesh of real peers (createNode: a relay and two
 * Node peers over loopback, Raft, CRDT docs, broker): deploy and route, refusals, live migration
 * under a steady stream of requests (none lost, none handled twice), state that follows the agent,
 * and a stale epoch refused.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { startMesh, type TestMesh } from './mesh-helpers.ts'
import { builtinKinds, defineAgent, placementKey } from '../../src/agents/index.ts'
import type { Placement } from '../../src/agents/directory.ts'
import type { MeshNode } from '../../src/node.ts'

/** a kind that takes most of a 2-cpu peer */
const hog = defineAgent({ kind: 'hog', requirements: { cpu: 1.5, memoryMb: 64 }, onMessage: () => 'ok' })

describe('DistributedAgentManager over real peers', () => {
  let mesh: TestMesh
  let a: MeshNode
  let b: MeshNode

  before(async () => {
    mesh = await startMesh(2, 'agents-manager', { agents: [...builtinKinds, hog], capabilities: { cpu: 2, memoryMb: 1024, tags: [] } })
    ;[a, b] = mesh.nodes
    // every peer advertises its kinds once it holds a lease: wait until each sees the others'
    const deadline = Date.now() + 15_000
    const advertised = (from: MeshNode, of: MeshNode): boolean => (from.network.member(of.peerId)?.record.ext.kinds as string[] | undefined)?.includes('counter') === true
    while (!mesh.all().every(x => mesh.all().every(y => x === y || advertised(x, y)))) {
      if (Date.now() > deadline) throw new Error('peers never advertised their kinds')
      await new Promise(resolve => setTimeout(resolve, 50))
    }
  })
  after(async () => { await mesh?.stop() })

  it('deploys where asked, routes requests from any peer, and lists the placement everywhere', async () => {
    const d = await a.agents.deployAgent('c1', { kind: 'counter', node: b.peerId })
    assert.equal(d.node, b.peerId)
    assert.ok(d.epoch > 0)
    assert.deepEqual(await a.broker.request('c1', { op: 'inc' }), { value: 1 })
    assert.deepEqual(await mesh.relay.broker.request('c1', { op: 'inc', by: 2 }), { value: 3 })
    const listed = await mesh.relay.agents.listAgents()
    assert.deepEqual(listed.find(x => x.id === 'c1'), { id: 'c1', kind: 'counter', node: b.peerId, epoch: d.epoch, status: 'active' })
    assert.deepEqual(await a.agents.agentState('c1'), { value: 3 })
  })

  it('an activation that arrives after the host claimed the agent under a newer epoch is answered by that one', async () => {
    // the race: the deployer's activate is slow to arrive, the host finds the agent placed on
    // itself and not running, claims it (a new epoch) and starts it; the late activate then
    // failed the deploy with NotOwnerError although the agent ran where it was asked to
    await a.agents.deployAgent('late-activate', { kind: 'counter', node: b.peerId })
    assert.deepEqual(await a.broker.request('late-activate', { op: 'inc' }), { value: 1 })
    const current = await a.agents.read('late-activate')
    assert.ok(current != null)
    const running = await a.agents.activateOn({ ...current, epoch: current.epoch - 1 })
    assert.equal(running.epoch, current.epoch)
    assert.equal(running.node, b.peerId)
    assert.deepEqual(await a.broker.request('late-activate', { op: 'inc' }), { value: 2 }, 'still the one activation, state kept')
    await assert.rejects(a.agents.activateOn({ ...current, epoch: current.epoch + 1 }), { name: 'NotOwnerError' })
  })

  it('an activation overtaken by the host claiming the agent under a newer epoch is answered by the claim', async () => {
    // the race the dashboard e2e met: the host found the agent placed on itself and not running,
    // and its claim (a newer epoch) committed while the deployer's activation was already starting
    // there; that activation then failed on the newer epoch, and the deploy with it (NotOwnerError),
    // although the agent ran where it was asked to
    const created = await a.agents.records.write(undefined, { id: 'overtaken', kind: 'counter', node: b.peerId, epoch: a.agents.nextEpoch(), config: {}, status: 'active' })
    const local = b.agents.local
    const activate = local.activate.bind(local)
    let claimed: Placement | undefined
    local.activate = async (p, options) => {
      // the claim commits just as the deployer's activation starts
      if (p.id === created.id && claimed === undefined) claimed = await b.agents.records.write(p, { ...p, epoch: b.agents.nextEpoch() })
      await activate(p, options)
    }
    try {
      const running = await a.agents.activateOn(created, { fresh: true })
      assert.ok(claimed != null && claimed.epoch > created.epoch)
      assert.equal(running.node, b.peerId)
      assert.equal(running.epoch, claimed.epoch, 'answered with the claim')
      assert.equal(local.epochOf(created.id), claimed.epoch, 'running under the claim on the host')
      assert.deepEqual(await a.broker.request(created.id, { op: 'inc' }), { value: 1 })
    } finally {
      local.activate = activate
    }
  })

  it('refuses a second deployment of an id (ConflictError) and an unknown kind (NotFoundError)', async () => {
    await assert.rejects(b.agents.deployAgent('c1', { kind: 'echo' }), { name: 'ConflictError' })
    await assert.rejects(b.agents.deployAgent('c2', { kind: 'no-such-kind' }), { name: 'NotFoundError' })
    await assert.rejects(b.agents.getAgent('nope'), { name: 'NotFoundError' })
  })

  it('capacity is accounted: one hog per peer fits, the next one is refused with CapacityError', async () => {
    const placed = []
    for (let i = 0; i < 3; i++) placed.push((await a.agents.deployAgent(`hog-${i}`, { kind: 'hog' })).node)
    assert.equal(new Set(placed).size, 3, `one per peer: ${placed.join(', ')}`)
    await assert.rejects(b.agents.deployAgent('hog-3', { kind: 'hog' }), { name: 'CapacityError' })
    await assert.rejects(a.agents.getAgent('hog-3'), { name: 'NotFoundError' })
    const onA = a.agents.host.ledger.toJSON()
    assert.ok(onA.used.cpu >= 1.5 && onA.used.cpu <= 2, `a's ledger holds its hog: ${onA.used.cpu}`)
  })

  it('a placement write under an older epoch is refused with StaleEpochError', async () => {
    const p = await a.agents.read('c1')
    assert.ok(p != null)
    await assert.rejects(a.consensus.kv.put(placementKey('c1'), { ...p, status: 'active' }, { fence: { key: placementKey('c1'), token: p.epoch - 1 } }), { name: 'StaleEpochError' })
  })

  it('migrates live under a steady stream of requests: none lost, none handled twice, state follows', async () => {
    await a.agents.deployAgent('m1', { kind: 'counter', node: a.peerId })
    const replies: number[] = []
    const failures: string[] = []
    let stop = false
    const clients = [mesh.relay, a, b].map(async (n) => {
      while (!stop) {
        try {
          const r = await n.broker.request('m1', { op: 'inc' }, { timeoutMs: 10_000 }) as { value: number }
          replies.push(r.value)
        } catch (err) {
          failures.push(`${(err as Error).name}: ${(err as Error).message}`)
        }
      }
    })
    const wait = async (count: number): Promise<void> => {
      const deadline = Date.now() + 20_000
      while (replies.length < count) {
        if (Date.now() > deadline) throw new Error(`only ${replies.length} replies`)
        await new Promise(resolve => setTimeout(resolve, 10))
      }
    }
    const epochs: number[] = []
    try {
      for (let i = 0; i < 4; i++) {
        await wait(replies.length + 15)
        const to = i % 2 === 0 ? b : a
        const moved = await mesh.relay.agents.migrateAgent('m1', to.peerId)
        assert.equal(moved.node, to.peerId)
        epochs.push(moved.epoch)
      }
      await wait(replies.length + 15)
    } finally {
      // the clients end however the test does (left running, they would spin against stopped peers)
      stop = true
      await Promise.all(clients)
    }
    assert.deepEqual(failures, [])
    assert.equal(new Set(replies).size, replies.length, 'no increment handled twice')
    const final = await b.broker.request('m1', { op: 'get' }) as { value: number }
    assert.equal(final.value, replies.length, 'every increment handled once')
    assert.deepEqual([...replies].sort((x, y) => x - y), Array.from({ length: replies.length }, (_, i) => i + 1))
    for (let i = 1; i < epochs.length; i++) assert.ok(epochs[i] > epochs[i - 1], 'each move has a newer epoch')
    assert.equal((await mesh.relay.agents.getAgent('m1')).node, a.peerId)
    assert.equal(b.agents.host.has('m1'), false, 'the old owner stopped it')
  })

  it('syncAgentState brings the state to the write concern and handleAgentFailure restarts it in place', async () => {
    const before = await a.broker.request('c1', { op: 'get' }) as { value: number }
    const synced = await b.agents.syncAgentState('c1')
    assert.equal(synced.node, b.peerId)
    assert.ok(synced.holders.length >= 1, `other peers hold its state: ${synced.holders.join(', ')}`)
    const r = await b.agents.handleAgentFailure('c1')
    assert.equal(r.action, 'restarted')
    assert.deepEqual(await a.broker.request('c1', { op: 'get' }), before, 'the restarted activation has the same state')
    assert.equal((await a.agents.handleAgentFailure('c1')).action, 'none', 'only the owner restarts an agent')
  })
})
