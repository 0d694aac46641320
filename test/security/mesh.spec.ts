/**
 * A credentialed mesh in one process: a relay and two Node peers hold credentials signed by the
 * mesh admin key; C holds none (and, started without the mesh key, believes itself in an open
 * mesh); D holds a credential signed by some other key; E knows the mesh key and holds no
 * credential. C, D and E can join and read, but are never made voters, never given agents, what
 * they publish on control topics reaches nobody, their KV proposals and Raft messages are
 * refused, and they cannot change an agent's state doc.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { PrivateKey } from '@libp2p/interface'
import type { Message } from '@libp2p/gossipsub'
import { peerIdFromString } from '@libp2p/peer-id'
import { createNode, type MeshNode } from '../../src/node.ts'
import { encodeFrame } from '../../src/messaging/framing.ts'
import { RAFT_PROTOCOL } from '../../src/consensus/constants.ts'
import { encodeHello, encodeMessage, packMessages } from '../../src/consensus/raft-wire.ts'
import { EntryType, MessageType } from '../../src/consensus/raft/types.ts'
import type { Message as RaftMessage } from '../../src/consensus/raft/types.ts'
import { encodeCommand } from '../../src/consensus/kv/index.ts'
import type { GateRole } from '../../src/security/index.ts'
import { publicKeyToText, signCredential } from '../../src/security/index.ts'
import type { MeshRole } from '../../src/security/index.ts'
import { waitFor } from '../network/harness.ts'

const MESH = 'secure'
const ALL: MeshRole[] = ['voter', 'host', 'publisher']

async function credentialed (admin: PrivateKey, roles: MeshRole[], ttlMs = 10 * 60_000): Promise<{ privateKey: PrivateKey, credential: string }> {
  const privateKey = await generateKeyPair('Ed25519')
  const peerId = peerIdFromPrivateKey(privateKey).toString()
  return { privateKey, credential: await signCredential(admin, { mesh: MESH, peerId, roles, expiry: Date.now() + ttlMs }) }
}

describe('a credentialed mesh', () => {
  let relay: MeshNode, a: MeshNode, b: MeshNode, c: MeshNode, d: MeshNode, e: MeshNode
  let all: MeshNode[]

  before(async () => {
    const admin = await generateKeyPair('Ed25519')
    const forger = await generateKeyPair('Ed25519')
    const meshKey = publicKeyToText(admin.publicKey)
    relay = await createNode({ mesh: MESH, role: 'relay', meshKey, ...await credentialed(admin, ALL) })
    const boot = relay.libp2p.getMultiaddrs().map(x => x.toString()).filter(x => x.includes('/ws/'))
    ;[a, b] = await Promise.all([
      createNode({ mesh: MESH, bootstrap: boot, meshKey, ...await credentialed(admin, ALL) }),
      createNode({ mesh: MESH, bootstrap: boot, meshKey, ...await credentialed(admin, ALL) })
    ])
    c = await createNode({ mesh: MESH, bootstrap: boot })
    d = await createNode({ mesh: MESH, bootstrap: boot, meshKey: publicKeyToText(forger.publicKey), ...await credentialed(forger, ALL) })
    e = await createNode({ mesh: MESH, bootstrap: boot, meshKey })
    all = [relay, a, b, c, d, e]
    await waitFor(() => all.every(x => all.every(y => x === y || x.network.member(y.peerId)?.status === 'alive')), 20_000, 'every peer to see every other')
    await waitFor(() => [relay, a, b].every(x => x.consensus.status().voters.length === 3), 30_000, 'the three credentialed peers to be the voters')
  })

  after(async () => {
    await Promise.all((all ?? []).map(async x => { await x.stop() }))
  })

  it('peers without a valid credential join and are seen, but are refused every role', () => {
    for (const x of [relay, a, b]) {
      assert.equal(x.security.authority.allows(a.peerId, 'voter'), true)
      for (const role of ALL) {
        assert.equal(x.security.authority.allows(c.peerId, role), false, `${role} to C`)
        assert.equal(x.security.authority.allows(d.peerId, role), false, `${role} to D (forged)`)
      }
    }
    assert.equal(c.security.authority.open, true, 'C started without the key: it thinks the mesh open')
  })

  it('the autopilot never makes them voters, though they ask to be', async () => {
    // C announces itself a voter candidate (it believes the mesh open); D too (its forged credential checks out against its own key)
    await waitFor(() => relay.network.member(c.peerId)?.record.ext.raft != null, 10_000, 'C to announce its raft wishes')
    assert.equal((relay.network.member(c.peerId)?.record.ext.raft as { candidate: boolean }).candidate, true)
    // give the autopilot several rounds (it promotes in about a second when it may)
    const until = Date.now() + 4000
    while (Date.now() < until) {
      for (const x of [relay, a, b]) {
        const voters = x.consensus.status().voters
        assert.ok(!voters.includes(c.peerId) && !voters.includes(d.peerId), `voters ${voters.join(',')}`)
      }
      await new Promise(resolve => setTimeout(resolve, 200))
    }
    const metrics = await relay.monitoring.metricsText()
    assert.match(metrics, /agentmesh_security_refusals_total\{role="voter"\} [1-9]/)
  })

  it('placement skips them, and deploying to one of them is UnauthorizedError', async () => {
    await assert.rejects(a.agents.deployAgent('sec-c', { kind: 'counter', node: c.peerId }), { name: 'UnauthorizedError' })
    await assert.rejects(a.agents.deployAgent('sec-d', { kind: 'counter', node: d.peerId }), { name: 'UnauthorizedError' })
    const placed = []
    for (let i = 0; i < 6; i++) placed.push(await a.agents.deployAgent(`sec-${i}`, { kind: 'counter' }))
    for (const p of placed) assert.ok(![c.peerId, d.peerId].includes(p.node), `${p.id} placed on ${p.node}`)
    await assert.rejects(a.agents.migrateAgent('sec-0', c.peerId), { name: 'UnauthorizedError' })
    // C, deploying itself, cannot put an agent on itself either: the peers it asks refuse to place or run it there
    assert.deepEqual((await a.broker.request('sec-0', { op: 'inc' }) as { value: number }).value, 1)
  })

  it('their publishes on control topics reach nobody; on user topics they do', async () => {
    const control = `agentmesh/${MESH}/v1/a/sec-probe`
    const user = `agentmesh/${MESH}/v1/t/sec-chat`
    const got: Array<{ topic: string, from: string, text: string }> = []
    const onMessage = (evt: CustomEvent<Message>): void => {
      const m = evt.detail
      if ((m.topic === control || m.topic === user) && m.type === 'signed') got.push({ topic: m.topic, from: m.from.toString(), text: new TextDecoder().decode(m.data) })
    }
    b.libp2p.services.pubsub.addEventListener('message', onMessage)
    try {
      for (const x of [a, b, c, d, relay]) { x.libp2p.services.pubsub.subscribe(control); x.libp2p.services.pubsub.subscribe(user) }
      await waitFor(() => [a, c, d].every(x => x.libp2p.services.pubsub.getSubscribers(control).length >= 2), 10_000, 'subscriptions to spread')
      const deadline = Date.now() + 10_000
      let n = 0
      while (!(got.some(g => g.from === a.peerId && g.topic === control) && got.some(g => g.from === c.peerId && g.topic === user))) {
        if (Date.now() > deadline) throw new Error(`honest messages did not arrive: ${JSON.stringify(got)}`)
        n++
        for (const [x, name] of [[a, 'a'], [c, 'c'], [d, 'd']] as const) {
          await x.libp2p.services.pubsub.publish(control, new TextEncoder().encode(`${name}-${n}`)).catch(() => {})
          await x.libp2p.services.pubsub.publish(user, new TextEncoder().encode(`${name}-${n}`)).catch(() => {})
        }
        await new Promise(resolve => setTimeout(resolve, 200))
      }
      assert.deepEqual(got.filter(g => g.topic === control && g.from !== a.peerId), [], 'nothing from C or D on a control topic')
      const metrics = await b.monitoring.metricsText()
      assert.match(metrics, /agentmesh_security_refusals_total\{role="publisher"\} [1-9]/)
    } finally {
      b.libp2p.services.pubsub.removeEventListener('message', onMessage)
    }
  })

  it('a peer that knows the mesh is credentialed but holds no credential gets UnauthorizedError for KV proposals and reads', async () => {
    await assert.rejects(e.consensus.kv.put('sec/e', 1), { name: 'UnauthorizedError' })
    await assert.rejects(e.consensus.kv.get('sec/e'), { name: 'UnauthorizedError' })
  })

  it('the leader refuses proposals and read requests, and peers refuse appends, sent straight onto the Raft stream by a peer without credential', async () => {
    const status = relay.consensus.status()
    const leader = [relay, a, b].find(x => x.peerId === status.leader)!
    const follower = [relay, a, b].find(x => x.peerId !== status.leader)!
    const refused = spyRefusals([leader, follower])
    const send = async (to: MeshNode, m: Omit<RaftMessage, 'from' | 'to' | 'logTerm' | 'index' | 'commit' | 'reject' | 'rejectHint' | 'entries'> & Partial<RaftMessage>): Promise<void> => {
      const stream = await c.libp2p.dialProtocol(peerIdFromString(to.peerId), RAFT_PROTOCOL, { runOnLimitedConnection: true })
      stream.send(encodeFrame(encodeHello(status.group)))
      stream.send(encodeFrame(packMessages([encodeMessage({ from: c.peerId, to: to.peerId, logTerm: 0, index: 0, commit: 0, reject: false, rejectHint: 0, entries: [], ...m })])))
      await stream.close()
    }
    // a KV put C forwards as a follower would: without the gate the leader appends and applies it
    const put = encodeCommand({ type: 'put', key: 'sec/forged', value: new TextEncoder().encode('"x"'), requestId: 'forged-1' })
    await send(leader, { type: MessageType.Prop, term: 0, entries: [{ term: 0, index: 0, type: EntryType.Normal, data: put }] })
    await waitFor(() => refused.some(r => r.peer === c.peerId && r.role === 'member'), 10_000, 'the leader to refuse the forged proposal')
    await a.consensus.kv.put('sec/after', 1)
    assert.equal(await b.consensus.kv.get('sec/forged'), undefined, 'the forged put was never applied')
    // a read request (ReadIndex) it forwards is refused too: without the gate the leader answers it
    await send(leader, { type: MessageType.ReadIndex, term: 0, entries: [{ term: 0, index: 0, type: EntryType.Normal, data: new Uint8Array([1, 2, 3, 4]) }] })
    await waitFor(() => refused.some(r => r.peer === c.peerId && r.role === 'member' && r.what.includes('read')), 10_000, 'the leader to refuse the forged read request')
    // an append from a would-be leader of a later term: without the gate the follower takes its term and its lead
    const term = follower.consensus.status().term
    await send(follower, { type: MessageType.App, term: term + 5 })
    await waitFor(() => refused.some(r => r.peer === c.peerId && r.role === 'voter' && r.what.includes('raft message')), 10_000, 'the follower to refuse the forged append')
    assert.ok(follower.consensus.status().term < term + 5, 'the follower kept its term')
    assert.notEqual(follower.consensus.status().leader, c.peerId)
  })

  it('a peer without credential cannot change an agent state doc; a host can', async () => {
    const docId = 'agent/sec-doc'
    const da = await a.docs.replicateState(docId, { replicas: 0 })
    da.getMap('state').set('owner', 'a')
    const refused = spyRefusals([a])
    const dc = await c.docs.replicateState(docId, { replicas: 0, syncFrom: [a.peerId] })
    assert.equal(dc.getMap('state').get('owner'), 'a', 'C reads the doc')
    dc.getMap('state').set('owner', 'c')
    await assert.rejects(c.docs.syncWith(dc, a.peerId), { name: 'UnauthorizedError' })
    assert.equal(da.getMap('state').get('owner'), 'a', "A's copy unchanged")
    assert.ok(refused.some(r => r.peer === c.peerId && r.role === 'host'))
    const db = await b.docs.replicateState(docId, { replicas: 0, syncFrom: [a.peerId] })
    db.getMap('state').set('owner', 'b')
    await b.docs.syncWith(db, a.peerId)
    assert.equal(da.getMap('state').get('owner'), 'b', 'a host writes it')
  })
})

/** records every refusal the peers' authorities make from now on */
function spyRefusals (nodes: MeshNode[]): Array<{ peer: string, role: GateRole, what: string }> {
  const seen: Array<{ peer: string, role: GateRole, what: string }> = []
  for (const n of nodes) {
    const authority = n.security.authority
    const refuse = authority.refuse.bind(authority)
    authority.refuse = (peer, role, what) => { seen.push({ peer, role, what }); refuse(peer, role, what) }
  }
  return seen
}
