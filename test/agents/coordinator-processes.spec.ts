/**
 * A coordinator/worker job across real CLI processes (a relay and three Node peers with --data):
 * the coordinator spreads its workers over the peers, a peer hosting workers is SIGKILLed right
 * after the job starts, its workers are re-placed, and the job still ends with the exact total.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { getJson, postJson, startProcessMesh, waitUntil, type PeerProcess } from '../helpers/processes.ts'

interface AgentView { id: string, kind: string, node: string, epoch: number, status: string }

/** its calls wait up to 15 s (a job's requests on a loaded machine) */
const post = async <T>(p: PeerProcess, path: string, body: unknown): Promise<{ status: number, json: T }> => await postJson<T>(p, path, body, 15_000)

describe('coordinator and workers across processes, a worker peer killed mid-job', () => {
  const dir = mkdtempSync(join(tmpdir(), 'agentmesh-job-'))
  let relay: PeerProcess
  let nodes: PeerProcess[] = []

  before(async () => {
    ({ relay, nodes } = await startProcessMesh(dir, 'job-flow', 3))
    // every Node peer takes agents once its probe can also be moved onto it
    for (const n of nodes) {
      await waitUntil(async () => (await post(relay, `/agents/probe-${n.ready.peerId.slice(-6)}/migrate`, { node: n.ready.peerId })).status === 200, 30_000, 'each peer to take agents')
    }
    // the SIGKILL below is survivable only once the Raft group has three voters: it grows one voter
    // at a time, and a group of two that loses either voter has no quorum until that peer returns
    await waitUntil(async () => (await getJson<{ voters: string[] }>(relay, '/consensus')).voters.length >= 3, 30_000, 'the raft group to have three voters')
  })

  after(async () => {
    await Promise.all([relay, ...nodes].map(async p => { await p?.stop() }))
    rmSync(dir, { recursive: true, force: true })
  })

  it('counts the primes below 10,000,000 exactly (664,579) after a worker peer dies', async () => {
    const [home] = nodes
    const c = await post<AgentView>(home, '/agents', { id: 'job', kind: 'coordinator', node: home.ready.peerId, config: { workers: 6, taskTimeoutMs: 3000, workerCooldownMs: 200 } })
    assert.equal(c.status, 201)
    let workers: AgentView[] = []
    await waitUntil(async () => {
      workers = (await getJson<AgentView[]>(relay, '/agents')).filter(a => a.kind === 'worker')
      return workers.length === 6
    }, 20_000, 'the six workers to be deployed')
    const spread = new Set(workers.map(w => w.node))
    assert.ok(spread.size >= 3, `workers spread over peers (${spread.size})`)
    const victim = nodes.find(n => n !== home && workers.some(w => w.node === n.ready.peerId))
    assert.ok(victim != null, 'a peer other than the coordinator\'s hosts workers')

    const started = await post<{ reply: { tasks: number } }>(home, '/agents/job/messages', { message: { op: 'start', job: { type: 'primes', from: 0, to: 10_000_000, chunk: 250_000 } } })
    assert.equal(started.json.reply.tasks, 40)
    victim.kill('SIGKILL')

    let status: { done: number, total: number, result?: number } = { done: 0, total: 40 }
    await waitUntil(async () => {
      status = (await post<{ reply: typeof status }>(home, '/agents/job/messages', { message: { op: 'status' } })).json.reply
      return status.done === status.total
    }, 45_000, 'the job to finish')
    assert.equal(status.result, 664_579)
    const after = (await getJson<AgentView[]>(relay, '/agents')).filter(a => a.kind === 'worker')
    assert.ok(after.every(w => w.node !== victim.ready.peerId), 'the dead peer\'s workers were re-placed')
  })
})
