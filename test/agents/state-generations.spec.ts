/**
 * Compacted agent state across owners, over real peers: a counter whose state was compacted into
 * new generation docs is migrated and then failed over (its owner stopped) with every
 * acknowledged increment there, none applied twice, and a recorded reply still answering its
 * retried message id.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { startMesh, waitForVoters, type TestMesh } from './mesh-helpers.ts'
import { waitFor } from './helpers.ts'
import { builtinKinds } from '../../src/agents/index.ts'
import type { MeshNode } from '../../src/node.ts'

const AGENT = 'gen-counter'
const ROOT = `agent/${AGENT}`

describe('compacted agent state across migration and failover', () => {
  let mesh: TestMesh
  let a: MeshNode
  let b: MeshNode

  before(async () => {
    mesh = await startMesh(2, 'agents-state-generations', { agents: [...builtinKinds] })
    ;[a, b] = mesh.nodes
    for (const n of [a, b]) {
      await waitFor(() => (mesh.relay.network.member(n.peerId)?.record.ext.kinds as string[] | undefined)?.includes('counter') === true, 15_000, 'peers to advertise their kinds')
    }
  })
  after(async () => { await mesh?.stop() })

  const generationsOn = (n: MeshNode): string[] => n.docs.docIds().filter(id => id.startsWith(`${ROOT}/g`))

  it('keeps every acknowledged increment through compactions, a migration and the owner\'s loss', async () => {
    await mesh.relay.agents.deployAgent(AGENT, { kind: 'counter', node: a.peerId })
    let value = 0
    const inc = async (messageId?: string): Promise<void> => {
      const r = await mesh.relay.agents.call(AGENT, { op: 'inc' }, messageId != null ? { messageId } : {}) as { value: number }
      assert.equal(r.value, value + 1, 'each increment applied once, in order')
      value = r.value
    }
    for (let i = 0; i < 10; i++) await inc()
    await a.agents.local.stateDocs.compact(AGENT)
    const first = a.agents.local.stateDocs.currentDocId(AGENT)!
    assert.match(first, /\/g1-[0-9a-f]{8}$/)
    for (let i = 0; i < 10; i++) await inc(`before-move-${i}`)

    await mesh.relay.agents.migrateAgent(AGENT, b.peerId)
    assert.equal(b.agents.local.stateDocs.currentDocId(AGENT), first, 'the new owner found the generation through the root')
    for (let i = 0; i < 10; i++) await inc()
    await b.agents.local.stateDocs.compact(AGENT)
    const second = b.agents.local.stateDocs.currentDocId(AGENT)!
    assert.match(second, /\/g2-[0-9a-f]{8}$/)
    for (let i = 0; i < 10; i++) await inc()
    assert.equal(value, 40)
    // the replaced generation is dropped by every peer that held it
    await waitFor(() => mesh.all().every(n => !generationsOn(n).includes(first)), 15_000, 'the first generation to be dropped everywhere')

    // the owner is lost right after its compaction: the agent comes back elsewhere with all 40
    // (once the group has three voters, so that losing b leaves a quorum)
    await waitForVoters(mesh)
    await b.stop()
    const survivors = [mesh.relay, a]
    let got: number | undefined
    await waitFor(async () => {
      try {
        got = (await mesh.relay.agents.call(AGENT, { op: 'get' }, { timeoutMs: 2_000 }) as { value: number }).value
        return true
      } catch { return false }
    }, 45_000, 'the counter to answer after its owner stopped')
    assert.equal(got, 40, 'every acknowledged increment, none twice')
    const owner = survivors.find(n => n.agents.local.epochOf(AGENT) != null)
    assert.ok(owner != null, 'a surviving peer runs it')
    assert.ok(generationsOn(owner).length >= 1, 'from a generation doc')
    // a retried message id from before the compactions gets its recorded reply, applies nothing
    assert.deepEqual(await mesh.relay.agents.call(AGENT, { op: 'inc' }, { messageId: 'before-move-9' }), { value: 20 })
    assert.deepEqual(await mesh.relay.agents.call(AGENT, { op: 'get' }), { value: 40 })
  })
})
