import * as Y from 'yjs'
import type { Message } from '@libp2p/gossipsub'
import { createNode, type MeshNode } from '../../src/node.ts'
import { assert, loadFixture, openPeerTab, waitFor } from './helpers.ts'
import type { SecureFixture } from './fixture-secure.ts'

async function rejectsWith (p: Promise<unknown>, name: string, what: string): Promise<void> {
  try {
    await p
  } catch (err) {
    assert((err as Error).name === name, `${what}: expected ${name}, got ${(err as Error).name}: ${(err as Error).message}`)
    return
  }
  throw new Error(`${what}: expected ${name}, it succeeded`)
}

/**
 * A mesh that requires membership credentials (fixture-secure.ts): another tab holds a token the
 * relay's admin endpoint issued (host + publisher), and hosts an agent (the tab opened last is in
 * front: the one that hosts must not be a background page); this tab knows the mesh key and
 * holds none. Objects of the other tab are only called, never handed to this page's modules.
 */
describe('a mesh that requires credentials', function () {
  this.timeout(150_000)
  let f: SecureFixture
  let member: MeshNode
  let other: Window & { mesh?: MeshNode, meshError?: string, Y?: typeof Y }
  let outsider: MeshNode

  before(async () => {
    f = (await loadFixture() as unknown as { secure: SecureFixture }).secure
    outsider = await createNode({ mesh: f.mesh, bootstrap: [f.relay], meshKey: f.meshKey })
    const q = (k: string, v: string): string => `${k}=${encodeURIComponent(v)}`
    other = await openPeerTab([q('relay', f.relay), q('mesh', f.mesh), q('meshKey', f.meshKey), q('credential', f.tabCredential), q('key', f.tabKey)].join('&'))
    await waitFor(() => other.mesh != null || other.meshError != null, 20_000, 'the tab with a token to start its node')
    assert(other.meshError == null, `the tab with a token failed: ${other.meshError}`)
    member = other.mesh!
    await waitFor(() => member.network.member(outsider.peerId)?.status === 'alive' && outsider.network.member(member.peerId)?.status === 'alive', 30_000, 'the two tabs to see each other')
  })

  after(async () => {
    other?.close()
    await outsider?.stop()
  })

  it('the tab with a token holds host and publisher, and the others honour it; the tab without one is refused every role', async () => {
    const roles = member.security.credential?.roles ?? []
    assert(roles.includes('host') && roles.includes('publisher') && !roles.includes('voter'), `token roles: ${roles.join(',')}`)
    await waitFor(() => outsider.security.authority.allows(member.peerId, 'host') && outsider.security.authority.allows(member.peerId, 'publisher'), 20_000, 'the token to be verified by the other tab')
    for (const role of ['voter', 'host', 'publisher', 'member'] as const) {
      assert(!member.security.authority.allows(outsider.peerId, role), `${role} refused to the tab without credential`)
    }
    assert(!member.consensus.status().voters.includes(outsider.peerId), 'the tab without credential is no voter')
  })

  it('the tab with a token hosts an agent; the mesh refuses to place one on the tab without', async () => {
    await waitFor(async () => {
      try { return (await member.agents.deployAgent('cred-tab', { kind: 'counter', node: member.peerId })).node === member.peerId } catch { return false }
    }, 60_000, 'the mesh to place cred-tab on the tab with a token')
    let value = 0
    await waitFor(async () => {
      try { value = (await member.broker.request('cred-tab', { op: 'inc' }, { timeoutMs: 10_000 }) as { value: number }).value; return true } catch { return false }
    }, 30_000, 'cred-tab to answer')
    assert(value === 1, `cred-tab answered ${value}`)
    // the tab without credential still talks to agents
    await waitFor(async () => {
      try { value = (await outsider.broker.request('cred-tab', { op: 'inc' }, { timeoutMs: 10_000 }) as { value: number }).value; return true } catch { return false }
    }, 30_000, 'cred-tab to answer the tab without credential')
    assert(value >= 2, `cred-tab answered the tab without credential: ${value}`)
    await rejectsWith(member.agents.deployAgent('cred-out', { kind: 'counter', node: outsider.peerId }), 'UnauthorizedError', 'placing an agent on the tab without credential')
    await rejectsWith(outsider.consensus.kv.put('cred/out', 1), 'UnauthorizedError', 'a KV write from the tab without credential')
    await rejectsWith(outsider.consensus.kv.get('cred/out'), 'UnauthorizedError', 'a linearizable read from the tab without credential')
  })

  it("control-topic publishes: the token holder's reach the other tab, the other tab's reach nobody (user topics do)", async () => {
    const control = `agentmesh/${f.mesh}/v1/a/cred-probe`
    const user = `agentmesh/${f.mesh}/v1/t/cred-chat`
    const got: Array<{ at: string, topic: string, from: string }> = []
    const listen = (at: MeshNode, name: string) => (evt: CustomEvent<Message>): void => {
      const m = evt.detail
      if ((m.topic === control || m.topic === user) && m.type === 'signed') got.push({ at: name, topic: m.topic, from: m.from.toString() })
    }
    const onMember = listen(member, 'member')
    const onOutsider = listen(outsider, 'outsider')
    member.libp2p.services.pubsub.addEventListener('message', onMember)
    outsider.libp2p.services.pubsub.addEventListener('message', onOutsider)
    try {
      for (const x of [member, outsider]) { x.libp2p.services.pubsub.subscribe(control); x.libp2p.services.pubsub.subscribe(user) }
      const arrived = (): boolean => got.some(g => g.at === 'outsider' && g.topic === control && g.from === member.peerId) &&
        got.some(g => g.at === 'member' && g.topic === user && g.from === outsider.peerId)
      let n = 0
      let last = 0
      await waitFor(async () => {
        if (arrived()) return true
        if (Date.now() - last < 250) return false
        last = Date.now()
        n++
        for (const x of [member, outsider]) {
          for (const t of [control, user]) await x.libp2p.services.pubsub.publish(t, new TextEncoder().encode(`m-${n}`)).catch(() => {})
        }
        return false
      }, 60_000, 'the honest messages to arrive')
      const leaked = got.filter(g => g.at === 'member' && g.topic === control && g.from === outsider.peerId)
      assert(leaked.length === 0, `${leaked.length} control-topic messages from the tab without credential arrived`)
    } finally {
      member.libp2p.services.pubsub.removeEventListener('message', onMember)
      outsider.libp2p.services.pubsub.removeEventListener('message', onOutsider)
    }
  })

  it("the tab without credential reads an agent state doc but cannot change it; the token holder writes it", async () => {
    const docId = 'agent/cred-doc'
    const theirY = other.Y!
    const theirs = await member.docs.replicateState(docId, { replicas: 0 })
    theirs.getMap('state').set('value', 7)
    const held = [...theirY.decodeStateVector(theirY.encodeStateVector(theirs))]
    assert(held.length > 0, 'the agent wrote its state')
    const copy = await outsider.docs.replicateState(docId, { replicas: 0, syncFrom: [member.peerId] })
    const got = Y.decodeStateVector(Y.encodeStateVector(copy))
    for (const [client, clock] of held) assert((got.get(client) ?? 0) >= clock, `the copy holds what the host had (client ${client}: ${got.get(client) ?? 0} of ${clock})`)
    const before = theirY.encodeStateVector(theirs).join()
    copy.getMap('intruder').set('x', 1)
    await rejectsWith(outsider.docs.syncWith(copy, member.peerId), 'UnauthorizedError', 'pushing a change into the agent doc')
    assert(theirs.getMap('intruder').size === 0, "the host's doc is unchanged")
    assert(theirY.encodeStateVector(theirs).join() === before, "the host's state vector is unchanged")
    assert(copy.getMap('state').get('value') === 7, 'the copy read the state')
  })
})
