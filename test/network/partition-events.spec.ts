/**
 * NetworkManager's partition awareness with real libp2p peers in-process: a relay whose Raft
 * voters are itself and two peers sees both peers crash, reports `network:partitioned` on the
 * minority side, and `network:healed` once its voters are all in reach again.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { relayAddr, startPeer, waitFor, type TestPeer } from './harness.ts'
import type { PartitionStatus } from '../../src/network/index.ts'

describe('partition events from NetworkManager', () => {
  let relay: TestPeer
  const peers: TestPeer[] = []

  before(async () => {
    relay = await startPeer({ role: 'relay' }, 'partition-events')
    for (let i = 0; i < 2; i++) peers.push(await startPeer({ bootstrap: [relayAddr(relay)] }, 'partition-events'))
    await waitFor(() => relay.network.aliveMembers().length === 2, 15_000, 'membership')
  })

  after(async () => {
    await Promise.all([relay, ...peers].map(async p => { await p.stop().catch(() => {}) }))
  })

  it('reports the minority side when two of three voters are gone, and the heal', async () => {
    let voters = [relay.network.peerId, ...peers.map(p => p.network.peerId)]
    relay.network.setVoterSource(() => voters)
    const events: Array<[string, PartitionStatus]> = []
    relay.network.addEventListener('network:partitioned', (e) => { events.push(['partitioned', e.detail]) })
    relay.network.addEventListener('network:healed', (e) => { events.push(['healed', e.detail]) })
    await new Promise(resolve => setTimeout(resolve, 600))
    assert.equal(relay.network.partitionStatus().majority, true)
    assert.equal(relay.network.partitionStatus().reachable.length, 3)
    assert.equal(events.length, 0, 'nothing to report while every voter is in reach')

    for (const p of peers) await p.crash()
    await waitFor(() => events.length > 0, 15_000, 'the partitioned event')
    const [kind, status] = events[0]
    assert.equal(kind, 'partitioned')
    assert.equal(status.majority, false)
    assert.deepEqual(status.reachable, [relay.network.peerId])
    assert.deepEqual(status.unreachableVoters, peers.map(p => p.network.peerId).sort())
    assert.equal(relay.network.partitionStatus().majority, false)

    // the group shrinks to the voter still here (as an autopilot would): every voter is in reach
    voters = [relay.network.peerId]
    await waitFor(() => events.length > 1, 10_000, 'the healed event')
    assert.equal(events[1][0], 'healed')
    assert.equal(events[1][1].partitioned, false)
  })
})
