/**
 * The leader's rebalancer and a peer back from a failure: the agents just recovered off a peer
 * are not pulled straight back onto it when it gains a node lease again (a restarted or flapping
 * peer, or one a loaded machine made look dead); it takes agents once it stayed up through its
 * probation, and a fresh peer still takes them after the settle time.
 * The real Rebalancer over a scripted membership, placement table and ManualClock.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { ManualClock } from '../../src/util/clock.ts'
import { Rebalancer } from '../../src/agents/rebalancer.ts'
import type { DistributedAgentManager } from '../../src/agents/manager.ts'
import type { Placement } from '../../src/agents/directory.ts'
import type { PlacementCandidate } from '../../src/agents/placement.ts'
import { REBALANCE_REJOIN_PROBATION_MS, REBALANCE_SETTLE_MS } from '../../src/agents/constants.ts'
import { counter } from '../../src/agents/kinds/index.ts'
import type { Member, NodeRecord } from '../../src/network/types.ts'

function record (peerId: string, hosting: boolean): NodeRecord {
  return {
    peerId, mesh: 'm', role: 'node', raft: 'voter', addrs: [], links: [], version: '0', incarnation: 1, seq: 1, ts: 0,
    heartbeatMs: 500, hidden: false,
    capabilities: { cpu: 64, memoryMb: 65536, tags: [] },
    load: { agents: 0, cpu: 0, memoryMb: 0, rssMb: 100, eventLoopLagMs: 0 },
    ext: { kinds: hosting ? ['counter'] : [] }
  } as unknown as NodeRecord
}

/** a leader with three peers: `full` hosts 6 counters, `other` none, `victim` comes and goes */
function harness () {
  const clock = new ManualClock(1_000_000)
  const members = new Map<string, Member>()
  const events = new EventTarget()
  const placements = new Map<string, Placement>()
  for (let i = 0; i < 6; i++) placements.set(`c${i}`, { id: `c${i}`, kind: 'counter', node: 'full', epoch: 1, config: {}, status: 'active' })
  const moves: string[] = []
  const set = (peerId: string, status: Member['status'], hosting: boolean, type: string): void => {
    const member = { peerId, status, record: record(peerId, hosting), lastSeen: clock.monotonic() } as Member
    members.set(peerId, member)
    events.dispatchEvent(new CustomEvent(type, { detail: { peerId, member } }))
  }
  const candidates = (): PlacementCandidate[] => [...members.values()].map(m => ({
    record: { ...m.record, load: { ...m.record.load, agents: [...placements.values()].filter(p => p.node === m.peerId).length } },
    status: m.status
  }))
  const log = Object.assign(() => {}, { error: () => {}, trace: () => {}, enabled: false })
  const manager = {
    peerId: 'leader',
    clock,
    log,
    kinds: { get: (k: string) => (k === 'counter' ? counter : undefined) },
    migrating: new Set<string>(),
    cache: { list: () => [...placements.values()] },
    listAgents: async () => [...placements.values()],
    placer: { candidates, noteReserved: () => {} },
    migrateAgent: async (id: string, to: string) => {
      const p = placements.get(id)!
      moves.push(`${id}:${p.node}->${to}`)
      placements.set(id, { ...p, node: to })
      return { id, kind: p.kind, node: to, epoch: p.epoch + 1 }
    },
    components: {
      consensus: { status: () => ({ role: 'leader' }) },
      network: {
        members: () => [...members.values()],
        member: (id: string) => members.get(id),
        addEventListener: (t: string, fn: EventListener) => { events.addEventListener(t, fn) },
        removeEventListener: (t: string, fn: EventListener) => { events.removeEventListener(t, fn) }
      }
    }
  } as unknown as DistributedAgentManager
  set('full', 'alive', true, 'node:joined')
  set('other', 'alive', false, 'node:joined')
  const rebalancer = new Rebalancer(manager)
  rebalancer.start()
  return { clock, set, moves, rebalancer, placements }
}

/** lets the passes the interval timer started finish */
async function settle (): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise(resolve => setImmediate(resolve))
}

describe('rebalancer: a peer back from a failure', () => {
  it('a fresh peer takes agents once it settled', async () => {
    const h = harness()
    h.set('victim', 'alive', true, 'node:joined')
    h.clock.advance(REBALANCE_SETTLE_MS)
    await h.rebalancer.tick()
    await settle()
    h.rebalancer.stop()
    assert.ok(h.moves.length > 0 && h.moves.every(m => m.endsWith('->victim')), JSON.stringify(h.moves))
  })

  it('takes nothing back during its probation after a failure, and takes agents after it', async () => {
    const h = harness()
    h.set('victim', 'alive', true, 'node:joined')
    h.clock.advance(REBALANCE_SETTLE_MS)
    await h.rebalancer.tick()
    await settle()
    const first = h.moves.splice(0)
    assert.ok(first.length > 0)
    // it fails: recovery re-places its agents (on `full`, as the scorer would here)
    h.set('victim', 'failed', true, 'node:failed')
    for (const p of h.placements.values()) if (p.node === 'victim') h.placements.set(p.id, { ...p, node: 'full' })
    h.clock.advance(2_000)
    await settle()
    // back (a restart of the same peer): it holds a node lease again
    h.set('victim', 'alive', true, 'node:recovered')
    for (let t = 1_000; t < REBALANCE_REJOIN_PROBATION_MS - 2_000; t += 1_000) {
      h.clock.advance(1_000)
      await h.rebalancer.tick()
      await settle()
      assert.deepEqual(h.moves, [], `nothing moves to a peer ${t} ms after it came back from a failure`)
    }
    // still up after its probation: it takes its share (of the agents not moved within the cooldown)
    h.clock.advance(3_000)
    await h.rebalancer.tick()
    await settle()
    h.rebalancer.stop()
    assert.ok(h.moves.length > 0 && h.moves.every(m => m.endsWith('->victim')), `after the probation: ${JSON.stringify(h.moves)}`)
  })
})
