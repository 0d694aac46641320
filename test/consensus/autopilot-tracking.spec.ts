/**
 * The autopilot's peer tracking forgets peers that left: a mesh where tabs come and go for days
 * must not keep one entry per tab that ever joined.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { trackPeers, type PeerTracking } from '../../src/consensus/autopilot-runner.ts'
import { AUTOPILOT_TRACKING_RETENTION_MS, AUTOPILOT_LEARNER_GRACE_MS, AUTOPILOT_VOTER_GRACE_MS } from '../../src/consensus/constants.ts'
import type { Member } from '../../src/network/index.ts'

/** a member as the autopilot reads it (role, hidden, status, the raft announcement) */
function member (peerId: string, status: Member['status'] = 'alive', role: 'node' | 'browser' = 'node'): Member {
  return {
    peerId,
    status,
    lastSeen: 0,
    record: {
      peerId, mesh: 'm', role, raft: 'none', addrs: [], capabilities: { cpu: 1, memoryMb: 1, tags: [], kinds: [] },
      load: { cpu: 0, memoryMb: 0, agents: 0 }, links: [], version: '0', incarnation: 1, seq: 1, ts: 0, heartbeatMs: 500,
      hidden: false, ext: { raft: { candidate: role === 'node', group: 'g' } }
    } as unknown as Member['record']
  }
}

describe('autopilot peer tracking', () => {
  it('keeps the retention past both graces, so the autopilot acts before it forgets', () => {
    assert.ok(AUTOPILOT_TRACKING_RETENTION_MS > AUTOPILOT_LEARNER_GRACE_MS && AUTOPILOT_TRACKING_RETENTION_MS > AUTOPILOT_VOTER_GRACE_MS)
  })

  it('is back to its size after 500 tabs join and leave', () => {
    const t: PeerTracking = { peers: new Map(), since: 0 }
    const stable = [member('n1'), member('n2'), member('n3')]
    let now = 0
    trackPeers(t, stable, now)
    assert.equal(t.peers.size, 3)
    for (let i = 0; i < 500; i++) {
      // a tab joins, is seen for a while, then fails and is dropped from the membership
      const tab = member(`tab${i}`, 'alive', 'browser')
      now += 1000
      trackPeers(t, [...stable, tab], now)
      now += 1000
      trackPeers(t, [...stable, { ...tab, status: 'failed' }], now)
      now += 1000
      trackPeers(t, stable, now)
    }
    now += AUTOPILOT_TRACKING_RETENTION_MS
    trackPeers(t, stable, now)
    assert.deepEqual([...t.peers.keys()].sort(), ['n1', 'n2', 'n3'])
  })

  it('still reports a peer that just left as down since it left, until the retention is over', () => {
    const t: PeerTracking = { peers: new Map(), since: 0 }
    trackPeers(t, [member('n1'), member('n2')], 0)
    trackPeers(t, [member('n1')], 10_000)
    assert.deepEqual(t.peers.get('n2'), { ...t.peers.get('n2'), up: false, since: 10_000 })
    trackPeers(t, [member('n1')], 10_000 + AUTOPILOT_TRACKING_RETENTION_MS - 1)
    assert.equal(t.peers.get('n2')?.since, 10_000, 'kept, with the time it went down')
    trackPeers(t, [member('n1')], 10_000 + AUTOPILOT_TRACKING_RETENTION_MS)
    assert.equal(t.peers.has('n2'), false)
    // it comes back: tracked afresh, up since now
    trackPeers(t, [member('n1'), member('n2')], 500_000)
    assert.deepEqual({ up: t.peers.get('n2')?.up, since: t.peers.get('n2')?.since }, { up: true, since: 500_000 })
  })
})
