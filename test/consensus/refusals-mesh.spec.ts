/**
 * Refusals in a credentialed mesh (in one process): a relay and a Node peer hold credentials;
 * C holds none and was started without the mesh key (it believes the mesh open, so nothing stops
 * its calls locally), and is a learner of the group. Its KV calls used to wait out the operation's
 * deadline (TimeoutError) while the leader silently dropped what it forwarded; now the leader
 * answers with a refusal and they fail with UnauthorizedError saying why. A refusal forged by C
 * towards the leader changes nothing there. (A peer with a credential signed by another key forms
 * a group of its own, which nobody else joins: test/security/mesh.spec.ts.)
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { PrivateKey } from '@libp2p/interface'
import { createNode, type MeshNode } from '../../src/node.ts'
import { encodeFrame } from '../../src/messaging/framing.ts'
import { encodeRefusal } from '../../src/consensus/raft-wire.ts'
import { publicKeyToText, signCredential } from '../../src/security/index.ts'
import type { MeshRole } from '../../src/security/index.ts'
import { waitFor } from '../network/harness.ts'

const MESH = 'refusals'
const ALL: MeshRole[] = ['voter', 'host', 'publisher']

async function credentialed (admin: PrivateKey, roles: MeshRole[]): Promise<{ privateKey: PrivateKey, credential: string }> {
  const privateKey = await generateKeyPair('Ed25519')
  const peerId = peerIdFromPrivateKey(privateKey).toString()
  return { privateKey, credential: await signCredential(admin, { mesh: MESH, peerId, roles, expiry: Date.now() + 10 * 60_000 }) }
}

async function failure (p: Promise<unknown>): Promise<Error> {
  return await p.then(v => { throw new Error(`expected a failure, got ${JSON.stringify(v)}`) }, (err: Error) => err)
}

function status (n: MeshNode): { leader: string | null, learners: string[], voters: string[] } | undefined {
  try { return n.consensus.status() } catch { return undefined }
}

describe('refusals in a credentialed mesh', () => {
  let relay: MeshNode, a: MeshNode, c: MeshNode
  let all: MeshNode[] = []

  before(async () => {
    const admin = await generateKeyPair('Ed25519')
    const meshKey = publicKeyToText(admin.publicKey)
    relay = await createNode({ mesh: MESH, role: 'relay', meshKey, ...await credentialed(admin, ALL) })
    all = [relay]
    const boot = relay.libp2p.getMultiaddrs().map(x => x.toString()).filter(x => x.includes('/ws/'))
    a = await createNode({ mesh: MESH, bootstrap: boot, meshKey, ...await credentialed(admin, ALL) })
    all.push(a)
    // two candidates: the lower id founds the group alone and the other follows as a learner (the
    // autopilot does not make a group of two voters, which either loss would stop)
    await waitFor(() => [relay, a].every(x => status(x)?.leader != null && status(x)?.voters.length === 1 && status(x)?.learners.length === 1), 30_000, 'the credentialed peers to form the group')
    // started once the group exists, so they join it (as learners) rather than form their own
    c = await createNode({ mesh: MESH, bootstrap: boot })
    all.push(c)
    const leader = (): string | null | undefined => status(relay)?.leader
    await waitFor(() => status(relay)?.learners.includes(c.peerId) === true && status(c)?.leader === leader(), 30_000, 'C to be a learner that knows the leader')
  })

  after(async () => {
    await Promise.all(all.map(async x => { await x.stop() }))
  })

  it('a peer without the mesh key cannot renew a lease: the leader refuses its renewal as a proposal (UnauthorizedError, not a timeout)', async () => {
    // first, so no refusal of C's proposals is remembered yet: this one comes back over the wire
    const lease = await a.consensus.kv.grantLease(60_000)
    const renew = await failure(c.consensus.kv.keepAlive(lease.id))
    assert.equal(renew.name, 'UnauthorizedError', `${renew.name}: ${renew.message}`)
    assert.match(renew.message, new RegExp(`raft leader ${status(relay)!.leader!} refuses this peer's KV proposals: ${c.peerId} presents no credential`))
    // a member renews it as ever
    assert.equal((await a.consensus.kv.keepAlive(lease.id)).id, lease.id)
    await a.consensus.kv.revoke(lease.id)
  })

  it('a peer without the mesh key: its put, get and proposeChange fail with UnauthorizedError naming why, not with a timeout', async () => {
    assert.equal(c.security.authority.open, true, 'C believes the mesh open, so nothing stops its calls locally')
    const put = await failure(c.consensus.kv.put('ref/c', 1))
    assert.equal(put.name, 'UnauthorizedError', `${put.name}: ${put.message}`)
    assert.match(put.message, new RegExp(`raft leader ${status(relay)!.leader!} refuses this peer's KV proposals: ${c.peerId} presents no credential`))
    const get = await failure(c.consensus.kv.get('ref/c'))
    assert.equal(get.name, 'UnauthorizedError', `${get.name}: ${get.message}`)
    const change = await failure(c.consensus.proposeChange('ref-c-1', { type: 'put', key: 'ref/c', value: 2 }))
    assert.equal(change.name, 'UnauthorizedError', `${change.name}: ${change.message}`)
    assert.equal(await a.consensus.kv.get('ref/c'), undefined, 'nothing C proposed was applied')
  })

  it('members are not confused by a refusal forged towards them, nor by garbage after it', async () => {
    const leaderId = status(relay)!.leader!
    const leader = [relay, a].find(x => x.peerId === leaderId)!
    // C writes back on the leader's own Raft stream to it, as a refusal would travel
    const transport = (c.consensus as unknown as { transport: { inboundOf: Map<string, { send: (b: Uint8Array) => boolean }> } }).transport
    await waitFor(() => transport.inboundOf.has(leaderId), 10_000, 'the leader to hold a raft stream to C')
    const back = transport.inboundOf.get(leaderId)!
    back.send(encodeFrame(encodeRefusal({ subject: 'proposal', reason: 'forged: you may not propose' })))
    back.send(encodeFrame(encodeRefusal({ subject: 'read', reason: 'forged: you may not read' })))
    back.send(encodeFrame(new Uint8Array([1, 4, 77, 0])))
    for (const x of [a, relay]) {
      const { revision } = await x.consensus.kv.put(`ref/member-${x.peerId.slice(-4)}`, 1)
      assert.ok(revision > 0)
      assert.deepEqual((await x.consensus.kv.get(`ref/member-${x.peerId.slice(-4)}`))?.value, 1)
    }
    // the leader believed none of the forged frames on its stream to C: it remembers no refusal,
    // so nothing of its own was failed (the frames went out before the puts above, which C also
    // took part in; were one still in flight this would pass without having looked at it)
    const remembered = (leader.consensus as unknown as { refusals: { last: Map<string, unknown> } }).refusals.last
    assert.equal(remembered.size, 0, 'the leader believed a refusal forged by C')
    // and the group still serves C's reads of nothing: C stays refused, the leader stays the leader
    assert.equal(status(relay)!.leader, leaderId)
    assert.equal((await failure(c.consensus.kv.put('ref/c2', 1))).name, 'UnauthorizedError')
  })
})
