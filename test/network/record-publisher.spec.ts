import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { ManualClock } from '../../src/util/clock.ts'
import { RecordPublisher } from '../../src/network/record-publisher.ts'
import { decodeMembershipMessage, MembershipMessageType, type MembershipMessage } from '../../src/network/record-codec.ts'
import type { Load, NodeRecord } from '../../src/network/types.ts'

async function setup (): Promise<{ publisher: RecordPublisher, clock: ManualClock, sent: MembershipMessage[], self: Omit<NodeRecord, 'seq' | 'ts' | 'load'>, load: Load }> {
  const privateKey = await generateKeyPair('Ed25519')
  const peerId = peerIdFromPrivateKey(privateKey).toString()
  const clock = new ManualClock(1000)
  const sent: MembershipMessage[] = []
  const self: Omit<NodeRecord, 'seq' | 'ts' | 'load'> = {
    peerId, mesh: 'm', role: 'node', raft: 'voter', addrs: ['/ip4/127.0.0.1/tcp/1'], capabilities: { cpu: 1, memoryMb: 64, tags: [] },
    links: [], version: '0', incarnation: 7, heartbeatMs: 500, hidden: false, ext: {}
  }
  const load: Load = { agents: 0, cpu: 0, memoryMb: 0, rssMb: 50, eventLoopLagMs: 0 }
  const publisher = new RecordPublisher({
    peerId, incarnation: 7, privateKey, clock, refreshMs: 10_000,
    describe: () => structuredClone(self),
    load: () => ({ ...load }),
    publish: async (bytes) => { sent.push(await decodeMembershipMessage(bytes, peerId, 'm')) }
  })
  return { publisher, clock, sent, self, load }
}

const kinds = (sent: MembershipMessage[]): string => sent.map(m => m.type === MembershipMessageType.Record ? 'R' : m.type === MembershipMessageType.Heartbeat ? 'h' : m.type === MembershipMessageType.Wanted ? 'W' : '?').join('')

describe('RecordPublisher', () => {
  it('sends the record first, then heartbeats until the record changes or the refresh is due', async () => {
    const { publisher, clock, sent, self, load } = await setup()
    for (let i = 0; i < 4; i++) { await publisher.beat(); clock.advance(500) }
    assert.equal(kinds(sent), 'Rhhh')
    load.rssMb = 60 // moving load figures ride on heartbeats
    await publisher.beat(); clock.advance(500)
    self.raft = 'learner' // a change sends the record
    await publisher.beat(); clock.advance(500)
    await publisher.beat(); clock.advance(500)
    assert.equal(kinds(sent), 'RhhhhRh')
    const hb = sent[4]
    assert.ok(hb.type === MembershipMessageType.Heartbeat)
    assert.equal(hb.heartbeat.load.rssMb, 60)
    assert.equal(hb.heartbeat.recordSeq, 1)
    const last = sent[6]
    assert.ok(last.type === MembershipMessageType.Heartbeat)
    assert.equal(last.heartbeat.recordSeq, 6, 'heartbeats name the record they stand by')
    assert.equal(last.heartbeat.seq, 7)
    // nothing changes for 10 s: the record goes out again once
    sent.length = 0
    for (let i = 0; i < 20; i++) { await publisher.beat(); clock.advance(500) }
    assert.equal(kinds(sent).replace(/h/g, ''), 'R')
    assert.equal(publisher.current().seq, sent.length + 7, 'the current record carries the latest seq')
  })

  it('sends the record on the next beat when asked; asks for missing records in one batch, once a second each', async () => {
    const { publisher, clock, sent } = await setup()
    await publisher.beat(); clock.advance(500)
    publisher.recordRequested()
    await publisher.beat(); clock.advance(500)
    assert.equal(kinds(sent), 'RR')
    sent.length = 0
    publisher.want('a'); publisher.want('b')
    await publisher.beat(); clock.advance(500)
    assert.equal(kinds(sent), 'Wh')
    assert.ok(sent[0].type === MembershipMessageType.Wanted)
    assert.deepEqual(sent[0].subjects, ['a', 'b'])
    publisher.want('a') // half a second later: not again yet
    await publisher.beat(); clock.advance(500)
    publisher.want('a')
    await publisher.beat()
    assert.equal(kinds(sent), 'WhhWh')
    assert.ok(sent[3].type === MembershipMessageType.Wanted)
    assert.deepEqual(sent[3].subjects, ['a'])
  })
})
