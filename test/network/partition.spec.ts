import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { assessPartition, partitionHealth, PartitionDetector } from '../../src/network/partition.ts'
import type { Member, MemberStatus, NodeRecord, PartitionStatus } from '../../src/network/types.ts'
import type { PartitionInput } from '../../src/network/partition.ts'
import { ManualClock } from '../../src/util/clock.ts'

function member (peerId: string, links: string[], status: MemberStatus = 'alive'): Member {
  const record: NodeRecord = {
    peerId, mesh: 'm', role: 'node', raft: 'voter', addrs: [], capabilities: { cpu: 1, memoryMb: 1, tags: [] },
    load: { agents: 0, cpu: 0, memoryMb: 0, rssMb: 0, eventLoopLagMs: 0 },
    links: links.map(peer => ({ peer, transport: 'tcp' as const })), version: '0',
    incarnation: 1, seq: 1, ts: 0, heartbeatMs: 500, hidden: false, ext: {}
  }
  return { peerId, status, record, lastSeen: 0 }
}

describe('assessPartition', () => {
  it('reaches members directly and through the links in their records, and holds the majority with them', () => {
    // self - a - b, and b - c; c's records stopped (suspect) but b still links to it
    const s = assessPartition({
      selfId: 'self',
      directLinks: ['a'],
      members: [member('a', ['self', 'b']), member('b', ['a', 'c'], 'suspect'), member('c', ['b'], 'suspect')],
      voters: ['self', 'b', 'c']
    })
    assert.deepEqual(s.reachable, ['a', 'b', 'c', 'self'])
    assert.deepEqual(s.direct, ['a'])
    assert.equal(s.majority, true)
    assert.equal(s.partitioned, false)
    assert.equal(partitionHealth(s).status, 'ok')
  })

  it('on the minority side: failed voters are out of reach, their stale links do not count', () => {
    // the majority (b, c) went silent and is failed; their last records still link to each other and to us
    const s = assessPartition({
      selfId: 'self',
      directLinks: [],
      members: [member('b', ['c', 'self'], 'failed'), member('c', ['b', 'self'], 'failed')],
      voters: ['self', 'b', 'c']
    })
    assert.deepEqual(s.reachable, ['self'])
    assert.equal(s.majority, false)
    assert.equal(s.partitioned, true)
    assert.deepEqual(s.unreachableVoters, ['b', 'c'])
    const h = partitionHealth(s)
    assert.equal(h.status, 'degraded')
    assert.match(h.detail ?? '', /minority side: 1 of 3/)
  })

  it('on the majority side with one voter cut off: partitioned, but the majority holds', () => {
    const s = assessPartition({
      selfId: 'a',
      directLinks: ['b'],
      members: [member('b', ['a']), member('c', [], 'failed')],
      voters: ['a', 'b', 'c']
    })
    assert.equal(s.partitioned, true)
    assert.equal(s.majority, true)
    assert.deepEqual(s.unreachableVoters, ['c'])
    assert.equal(partitionHealth(s).status, 'ok')
    assert.match(partitionHealth(s).detail ?? '', /out of reach: c/)
  })

  it('a peer that just started (voters it never heard of) is not partitioned; no group at all neither', () => {
    const fresh = assessPartition({ selfId: 'a', directLinks: [], members: [], voters: ['a', 'b', 'c'] })
    assert.equal(fresh.majority, true)
    assert.equal(fresh.partitioned, false)
    const none = assessPartition({ selfId: 'a', directLinks: ['b'], members: [member('b', ['a'])], voters: [] })
    assert.equal(none.majority, true)
    assert.equal(none.partitioned, false)
    assert.deepEqual(none.reachable, ['a', 'b'])
  })

  it('a link to a peer that is not a member (or is failed) does not make it reachable', () => {
    const s = assessPartition({ selfId: 'a', directLinks: ['x'], members: [member('b', ['a', 'z']), member('z', [], 'failed')], voters: [] })
    assert.deepEqual(s.reachable, ['a', 'b'])
  })
})

describe('PartitionDetector', () => {
  it('reports a verdict only after it held for the settle time, then reports the heal', () => {
    const clock = new ManualClock()
    let input: PartitionInput = { selfId: 'a', directLinks: ['b', 'c'], members: [member('b', ['a']), member('c', ['a'])], voters: ['a', 'b', 'c'] }
    const changes: Array<[boolean, boolean]> = []
    const d = new PartitionDetector({
      clock,
      read: () => input,
      onChange: (s: PartitionStatus) => { changes.push([s.partitioned, s.majority]) },
      checkIntervalMs: 100,
      settleMs: 1000
    })
    d.start()
    assert.equal(d.status().partitioned, false)
    input = { ...input, directLinks: [], members: [member('b', [], 'failed'), member('c', [], 'failed')] }
    clock.advance(500)
    assert.equal(d.status().majority, true, 'not settled yet')
    assert.deepEqual(d.status().reachable, ['a', 'b', 'c'], 'the settled status, lists included')
    // a blip back to healthy restarts the settle time
    input = { ...input, directLinks: ['b', 'c'], members: [member('b', ['a']), member('c', ['a'])] }
    clock.advance(200)
    input = { ...input, directLinks: [], members: [member('b', [], 'failed'), member('c', [], 'failed')] }
    clock.advance(900)
    assert.deepEqual(changes, [])
    clock.advance(300)
    assert.deepEqual(changes, [[true, false]])
    assert.equal(d.status().majority, false)
    input = { ...input, directLinks: ['b'], members: [member('b', ['a']), member('c', ['b'])] }
    clock.advance(1200)
    assert.deepEqual(changes, [[true, false], [false, true]])
    d.stop()
    input = { ...input, directLinks: [], members: [member('b', [], 'failed'), member('c', [], 'failed')] }
    clock.advance(5000)
    assert.equal(changes.length, 2, 'a stopped detector reports nothing')
  })
})
