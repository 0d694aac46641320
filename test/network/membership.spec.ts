import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { MembershipTable } from '../../src/network/membership.ts'
import type { Heartbeat, NodeRecord } from '../../src/network/types.ts'

function record (peerId: string, seq: number, extra: Partial<NodeRecord> = {}): NodeRecord {
  return {
    peerId, mesh: 'm', role: 'node', raft: 'voter', addrs: [], capabilities: { cpu: 1, memoryMb: 1, tags: [] },
    load: { agents: 0, cpu: 0, memoryMb: 0, rssMb: 0, eventLoopLagMs: 0 }, links: [], version: '0',
    incarnation: 1, seq, ts: 0, heartbeatMs: 300, hidden: false, ext: {}, ...extra
  }
}

function heartbeat (peerId: string, seq: number, recordSeq: number, extra: Partial<Heartbeat> = {}): Heartbeat {
  return { peerId, incarnation: 1, seq, recordSeq, ts: seq, load: { agents: 0, cpu: 0.25, memoryMb: 0, rssMb: 90, eventLoopLagMs: seq }, ...extra }
}

describe('MembershipTable', () => {
  it('joins on the first record, ignores stale ones, and reports only meaningful changes', () => {
    const t = new MembershipTable({ selfId: 'self' })
    assert.deepEqual(t.onRecord(record('self', 1), 0), [])
    assert.equal(t.onRecord(record('a', 1), 0)[0].kind, 'joined')
    assert.deepEqual(t.onRecord(record('a', 2), 300), []) // heartbeat, nothing new
    assert.deepEqual(t.onRecord(record('a', 1), 400), []) // reordered, older
    assert.equal(t.onRecord(record('a', 3, { raft: 'learner' }), 600)[0].kind, 'updated')
    assert.equal(t.get('a')?.lastSeen, 600)
  })

  it('suspects after 3 missed heartbeats and fails after 5 (500 ms beats: 1.5 s, 2.5 s), then recovers', () => {
    const t = new MembershipTable({ selfId: 'self' })
    t.onRecord(record('a', 1, { heartbeatMs: 500 }), 0)
    assert.deepEqual(t.check(1499), [])
    assert.equal(t.check(1500)[0].kind, 'suspect')
    assert.deepEqual(t.check(2499), [])
    assert.equal(t.check(2500)[0].kind, 'failed')
    assert.equal(t.get('a')?.status, 'failed')
    assert.equal(t.onRecord(record('a', 2, { heartbeatMs: 500 }), 2600)[0].kind, 'recovered')
    assert.equal(t.get('a')?.status, 'alive')
  })

  it('a hidden tab announcing a 1 s heartbeat gets proportionally longer', () => {
    const t = new MembershipTable({ selfId: 'self' })
    t.onRecord(record('tab', 1, { heartbeatMs: 1000, hidden: true }), 0)
    assert.deepEqual(t.check(2999), [])
    assert.equal(t.check(3000)[0].kind, 'suspect')
    assert.equal(t.check(5000)[0].kind, 'failed')
  })

  it('believes an obituary unless it has newer news of the subject', () => {
    const t = new MembershipTable({ selfId: 'self' })
    t.onRecord(record('a', 5), 0)
    assert.deepEqual(t.onObituary('a', 1, 4, 'reporter'), []) // reporter knew less than we do
    const out = t.onObituary('a', 1, 5, 'reporter')
    assert.equal(out[0].kind, 'failed')
    assert.match(t.get('a')?.reason ?? '', /reporter/)
  })

  it('a closed connection makes a member suspect; a successful probe clears it; a restart is a new incarnation', () => {
    const t = new MembershipTable({ selfId: 'self' })
    t.onRecord(record('a', 9), 0)
    assert.equal(t.onDisconnect('a')[0].kind, 'suspect')
    assert.equal(t.markReachable('a', 10)[0].kind, 'recovered')
    t.markFailed('a', 'unreachable')
    assert.equal(t.onRecord(record('a', 1, { incarnation: 2 }), 20)[0].kind, 'recovered')
    assert.equal(t.get('a')?.record.incarnation, 2)
  })

  it('heartbeats keep a member alive and carry its load; silence still fails it', () => {
    const t = new MembershipTable({ selfId: 'self' })
    t.onRecord(record('a', 1, { heartbeatMs: 500 }), 0)
    for (let at = 500, seq = 2; at <= 5000; at += 500, seq++) {
      assert.deepEqual(t.onHeartbeat(heartbeat('a', seq, 1), at), { transitions: [], wantRecord: false })
      assert.deepEqual(t.check(at + 499), [])
    }
    assert.equal(t.get('a')?.record.load.eventLoopLagMs, 11, 'the latest heartbeat\'s load')
    assert.equal(t.get('a')?.record.seq, 11)
    assert.equal(t.check(5000 + 2500)[0].kind, 'failed')
    // a heartbeat after the silence brings it back
    assert.equal(t.onHeartbeat(heartbeat('a', 12, 1), 7600).transitions[0].kind, 'recovered')
  })

  it('a heartbeat naming a record it does not hold asks for it, and never adds a member by itself', () => {
    const t = new MembershipTable({ selfId: 'self' })
    assert.deepEqual(t.onHeartbeat(heartbeat('a', 4, 3), 0), { transitions: [], wantRecord: true }, 'unknown peer')
    assert.equal(t.get('a'), undefined)
    assert.deepEqual(t.onHeartbeat(heartbeat('self', 4, 3), 0), { transitions: [], wantRecord: false })
    t.onRecord(record('a', 3), 10)
    assert.equal(t.onHeartbeat(heartbeat('a', 6, 5), 20).wantRecord, true, 'a newer record than ours')
    assert.equal(t.onHeartbeat(heartbeat('a', 2, 1, { incarnation: 2 }), 30).wantRecord, true, 'a restart')
    assert.equal(t.get('a')?.record.incarnation, 1, 'the restart is believed once its record arrives')
    assert.deepEqual(t.onHeartbeat(heartbeat('a', 6, 5), 40), { transitions: [], wantRecord: false }, 'a duplicate')
  })

  it('a record that arrives after a newer heartbeat is taken, keeping the heartbeat\'s seq and load', () => {
    const t = new MembershipTable({ selfId: 'self' })
    t.onRecord(record('a', 3), 0)
    t.onHeartbeat(heartbeat('a', 8, 7), 100)
    const out = t.onRecord(record('a', 7, { raft: 'learner' }), 120)
    assert.equal(out[0].kind, 'updated')
    assert.equal(t.get('a')?.record.raft, 'learner')
    assert.equal(t.get('a')?.record.seq, 8)
    assert.equal(t.get('a')?.record.load.eventLoopLagMs, 8)
    assert.deepEqual(t.onRecord(record('a', 7, { raft: 'voter' }), 130), [], 'the same record again')
    assert.equal(t.onHeartbeat(heartbeat('a', 9, 7), 140).wantRecord, false, 'held now')
    // an obituary that knew the heartbeat-era seq is believed; one from before it is not
    assert.deepEqual(t.onObituary('a', 1, 8, 'r'), [])
    assert.equal(t.onObituary('a', 1, 9, 'r')[0].kind, 'failed')
  })
})
