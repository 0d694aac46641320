/**
 * A peer whose wall clock runs 90 s behind the others (its injected Clock; monotonic time and
 * timers are the host's) on an in-process mesh of real peers: its hybrid logical clock refuses
 * every envelope of the others (their stamps are more than 60 s ahead of it), so before this fix
 * the counter agent placed on it stayed there and every call to it timed out. Now it notices it is the outlier, reports it (event,
 * `clock` health, `network_clock_skew` alert), hands the counter off — it is served elsewhere
 * with every acknowledged increment present once — refuses new placements, and takes agents
 * again once its clock is set right.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createNode, type MeshNode } from '../../src/node.ts'
import { OffsetClock } from '../helpers/offset-clock.ts'
import { waitFor } from '../network/harness.ts'

const advertises = (from: MeshNode, of: MeshNode): boolean =>
  of === from ? true : (from.network.member(of.peerId)?.record.ext.kinds as string[] | undefined)?.includes('counter') === true

describe('a peer whose clock is the mesh\'s outlier hands its agents off', () => {
  const skewed = new OffsetClock()
  let relay: MeshNode
  let nodes: MeshNode[] = []
  let x: MeshNode
  const all = (): MeshNode[] => [relay, ...nodes]

  before(async () => {
    const mesh = 'clock-handoff'
    relay = await createNode({ mesh, role: 'relay' })
    const boot = relay.libp2p.getMultiaddrs().map(a => a.toString()).filter(a => a.includes('/ws/'))
    nodes = await Promise.all([skewed, undefined].map(async clock => await createNode({ mesh, bootstrap: boot, ...(clock != null ? { clock } : {}) })))
    x = nodes[0]
    await waitFor(() => all().every(a => all().every(b => a === b || a.network.member(b.peerId)?.status === 'alive')), 30_000, 'every peer to see every other')
    await waitFor(() => all().every(a => { try { return a.consensus.status().leader != null } catch { return false } }), 30_000, 'a raft leader known everywhere')
    await waitFor(() => all().every(a => all().every(b => advertises(a, b))), 30_000, 'every peer to advertise its kinds to every other')
  })

  after(async () => {
    await Promise.all(all().map(async n => { await n.stop().catch(() => {}) }))
  })

  it('reports the skew, serves the counter elsewhere with every acknowledged increment once, refuses placements, recovers', async () => {
    const caller = nodes[1]
    await caller.agents.deployAgent('skew-counter', { kind: 'counter', node: x.peerId })
    let acked = 0
    const inc = async (i: number): Promise<number> => {
      // a retry with the same message id gets the first reply: an increment is applied once
      const deadline = Date.now() + 40_000
      for (;;) {
        try {
          const r = await caller.agents.call('skew-counter', { op: 'inc' }, { messageId: `inc-${i}`, timeoutMs: 5_000 }) as { value: number }
          acked++
          return r.value
        } catch (err) {
          if (Date.now() > deadline) throw err
        }
      }
    }
    for (let i = 0; i < 5; i++) assert.equal(await inc(i), i + 1)

    const skewEvents: number[] = []
    x.network.addEventListener('network:clock-skew', (e) => { skewEvents.push(e.detail.offsetMs) })
    skewed.offsetMs = -90_000

    await waitFor(() => skewEvents.length > 0, 20_000, 'the skewed peer to report itself the outlier')
    assert.ok(skewEvents[0] > 80_000, `the others run ~90 s ahead of it (median ${skewEvents[0]} ms)`)
    for (const n of [relay, ...nodes.slice(1)]) assert.equal(n.network.clockSkewStatus().outlier, false, 'the others are not the outlier')
    const health = await x.monitoring.checkHealth('clock')
    assert.equal(health.status, 'degraded')

    // the counter leaves the skewed peer and is served elsewhere, the count intact
    await waitFor(() => { const p = caller.agents.cache.get('skew-counter'); return p != null && p.node !== x.peerId }, 30_000, 'the counter to be placed elsewhere')
    for (let i = 5; i < 10; i++) assert.equal(await inc(i), i + 1, 'every acknowledged increment present once')
    const placed = await caller.agents.getAgent('skew-counter')
    assert.notEqual(placed.node, x.peerId)
    assert.equal(acked, 10)

    // no new placement on the skewed peer: it advertises no kinds and refuses activations
    await waitFor(() => !advertises(caller, x), 10_000, 'the skewed peer to stop advertising kinds')
    await assert.rejects(caller.agents.deployAgent('skew-pinned', { kind: 'counter', node: x.peerId }, { nodeWaitMs: 1_000 }), { name: 'UnreachableError' })
    await assert.rejects(x.agents.deployAgent('skew-any', { kind: 'echo' }), { name: 'ClockSkewError' }, 'a deploy through the skewed peer could not reach anyone')
    for (let i = 0; i < 3; i++) assert.notEqual((await caller.agents.deployAgent(`skew-any-${i}`, { kind: 'echo' })).node, x.peerId)
    await waitFor(() => x.monitoring.activeAlerts().some(a => a.name === 'network_clock_skew'), 15_000, 'the network_clock_skew alert')

    // the clock is fixed: the peer takes agents again
    skewed.offsetMs = 0
    await waitFor(() => !x.network.clockSkewStatus().outlier, 20_000, 'the skewed peer to agree with the mesh again')
    await waitFor(() => advertises(caller, x), 15_000, 'the peer to advertise its kinds again')
    assert.equal((await x.monitoring.checkHealth('clock')).status, 'ok')
    const back = await caller.agents.deployAgent('skew-back', { kind: 'counter', node: x.peerId })
    assert.equal(back.node, x.peerId)
  })
})
