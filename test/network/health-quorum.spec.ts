/**
 * Health follows the Raft quorum: with two of three voters paused, the remaining peer reports the
 * consensus component not ok and the peer degraded, and the quorum-lost alert fires; when they
 * resume, health is ok again and the alert resolves.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { tmpdir } from 'node:os'
import { startProcess, getJson, waitUntil, type PeerProcess } from '../helpers/processes.ts'

interface Health { status: string, components: Record<string, { status: string, detail?: string }> }
interface Consensus { leader: string | null, voters: string[] }

describe('health when the Raft quorum is lost and regained', () => {
  const dir = mkdtempSync(join(tmpdir(), 'agentmesh-quorum-'))
  let relay: PeerProcess
  const nodes: PeerProcess[] = []

  before(async () => {
    relay = await startProcess(['relay', '--port', '0', '--http-port', '0', '--mesh', 'quorum', '--data', join(dir, 'relay')])
    for (const n of ['a', 'b']) {
      nodes.push(await startProcess(['node', '--bootstrap', relay.ready.multiaddrs.join(','), '--http-port', '0', '--mesh', 'quorum', '--data', join(dir, n)]))
    }
    await waitUntil(async () => {
      const c = await getJson<Consensus>(relay, '/consensus')
      const h = await getJson<Health>(relay, '/health')
      return c.voters.length === 3 && c.leader != null && h.components.consensus?.status === 'ok'
    }, 45_000, 'a three-voter group with a leader')
  })

  after(async () => {
    await Promise.all([relay, ...nodes].map(async p => await p?.stop()))
    rmSync(dir, { recursive: true, force: true })
  })

  it('goes degraded with the quorum gone and back to ok when it returns', async () => {
    for (const n of nodes) n.kill('SIGSTOP')
    try {
      await waitUntil(async () => {
        const h = await getJson<Health>(relay, '/health')
        return h.components.consensus.status !== 'ok' && h.status !== 'ok'
      }, 20_000, 'the relay to report the lost quorum')
      const h = await getJson<Health>(relay, '/health')
      assert.equal(h.status, 'degraded', 'consensus is not critical: the peer still serves what needs no quorum')
      assert.ok(h.components.consensus.detail != null, 'with a reason')
      // and the quorum-lost alert fires once its 5 s window has passed
      await waitUntil(async () => (await getJson<Array<{ name: string }>>(relay, '/alerts')).some(a => a.name === 'raft_quorum_lost'), 20_000, 'the quorum alert')
    } finally {
      for (const n of nodes) n.kill('SIGCONT')
    }
    await waitUntil(async () => (await getJson<Health>(relay, '/health')).components.consensus.status === 'ok', 30_000, 'consensus health to return')
    await waitUntil(async () => !(await getJson<Array<{ name: string }>>(relay, '/alerts')).some(a => a.name === 'raft_quorum_lost'), 20_000, 'the quorum alert to resolve')
  })
})
