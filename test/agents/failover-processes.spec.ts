/**
 * The seed's flow with real CLI processes (a relay and two Node peers with --data): A registers,
 * B discovers A, X is deployed to A and Y to B, X and Y talk, A is SIGKILLed while increments
 * stream in, X runs on B with every acknowledged increment there and none applied twice; a request
 * the client retries with its message id after the kill gets the reply the dead owner gave.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { getJson, postJson as post, startProcess, waitUntil, type PeerProcess } from '../helpers/processes.ts'

interface NodeView { peerId: string, status: string }
interface AgentView { id: string, kind: string, node: string, epoch: number, status: string }

describe('agents across real processes: deploy, talk, SIGKILL the owner, recover', () => {
  const dir = mkdtempSync(join(tmpdir(), 'agentmesh-failover-'))
  let relay: PeerProcess
  let a: PeerProcess
  let b: PeerProcess

  before(async () => {
    const mesh = ['--mesh', 'seed-flow', '--http-port', '0']
    relay = await startProcess(['relay', '--port', '0', '--data', join(dir, 'relay'), ...mesh])
    const boot = relay.ready.multiaddrs.join(',')
    a = await startProcess(['node', '--bootstrap', boot, '--data', join(dir, 'a'), ...mesh])
    b = await startProcess(['node', '--bootstrap', boot, '--data', join(dir, 'b'), ...mesh])
    await waitUntil(async () => (await post<AgentView>(b, '/agents', { id: 'probe', kind: 'echo', node: b.ready.peerId })).status === 201, 60_000, 'the mesh to accept a deployment (the named peer holding a node lease)')
    // A and B take agents once they hold node leases (and say so in their records)
    for (const p of [a, b]) {
      await waitUntil(async () => (await post(relay, '/agents/probe/migrate', { node: p.ready.peerId })).status === 200, 30_000, 'each peer to take agents')
    }
    // the SIGKILL below is survivable only once all three peers vote: the autopilot grows the Raft
    // group one voter at a time (1, 2, then 3), peers take agents before the third is promoted, and
    // a group of two that loses either voter has no quorum (no leader, so no re-placement) until
    // that peer comes back (a CI run killed A 0.5 s after this setup, and nothing moved for 30 s)
    await waitUntil(async () => (await getJson<{ voters: string[] }>(relay, '/consensus')).voters.length === 3, 30_000, 'the raft group to have three voters')
  })

  after(async () => {
    await Promise.all([relay, a, b].map(async p => { await p?.stop() }))
    rmSync(dir, { recursive: true, force: true })
  })

  it('A registers and B discovers it', async () => {
    const seen = await getJson<NodeView[]>(b, '/nodes')
    assert.equal(seen.find(n => n.peerId === a.ready.peerId)?.status, 'alive')
  })

  it('X on A and Y on B talk; A is SIGKILLed; X serves from B with every acknowledged increment, none twice', async () => {
    const x = await post<AgentView>(b, '/agents', { id: 'X', kind: 'counter', node: a.ready.peerId })
    assert.equal(x.status, 201)
    assert.equal(x.json.node, a.ready.peerId)
    const y = await post<AgentView>(a, '/agents', { id: 'Y', kind: 'echo', node: b.ready.peerId })
    assert.equal(y.json.node, b.ready.peerId)
    assert.equal((await post<unknown>(a, '/agents', { id: 'X', kind: 'counter' })).status, 409)

    // Y (on B) asks X (on A): agent-to-agent RPC across peers
    const talk = await post<{ reply: { from: string, reply: { value: number } } }>(relay, '/agents/Y/messages', { message: { forward: 'X', message: { op: 'inc' } } })
    assert.deepEqual(talk.json.reply, { from: 'X', reply: { value: 1 } })

    const acked: number[] = [1]
    let attempts = 1
    let stop = false
    const stream = (async () => {
      while (!stop) {
        attempts++
        try {
          const r = await post<{ reply?: { value: number } }>(relay, '/agents/X/messages', { message: { op: 'inc' }, timeoutMs: 3000 }, 5000)
          if (r.status === 200 && r.json.reply != null) acked.push(r.json.reply.value)
        } catch {}
      }
    })()
    let keyed: { json: { reply: { value: number } } }
    try {
      await waitUntil(async () => acked.length >= 20, 20_000, 'increments to flow')
      // one increment with the client's own message id: its reply is recorded with X's state
      attempts++
      keyed = await post<{ reply: { value: number } }>(relay, '/agents/X/messages', { message: { op: 'inc' }, messageId: 'retried-after-kill' })
      acked.push(keyed.json.reply.value)
      const before = acked.length
      a.kill('SIGKILL')
      await waitUntil(async () => acked.length >= before + 20, 30_000, 'increments to flow again after the failover')
    } finally {
      // the client loop ends however the test does (left running, it would spin against stopped peers)
      stop = true
      await stream
    }
    // the client retries it after the failover: the new owner answers the first reply, applies nothing
    const retried = await post<{ reply: { value: number } }>(relay, '/agents/X/messages', { message: { op: 'inc' }, messageId: 'retried-after-kill' })
    assert.deepEqual(retried.json.reply, keyed.json.reply, 'a retry of the same message id gets the same reply from the new owner')

    const placed = await getJson<AgentView>(relay, '/agents/X')
    assert.equal(placed.node, b.ready.peerId, 'X runs on B now')
    assert.ok(placed.epoch > x.json.epoch, 'under a newer epoch')
    const final = await post<{ reply: { value: number } }>(b, '/agents/X/messages', { message: { op: 'get' } })
    const value = final.json.reply.value
    assert.equal(new Set(acked).size, acked.length, 'no acknowledged value handed out twice')
    assert.ok(value >= Math.max(...acked), `every acknowledged increment is there (${value} >= ${Math.max(...acked)})`)
    assert.ok(value <= attempts, `no increment applied twice (${value} <= ${attempts} attempts)`)
    for (let i = 1; i < acked.length; i++) assert.ok(acked[i] > acked[i - 1], `replies in order: ${acked[i - 1]} then ${acked[i]}`)
    const state = await getJson<{ value: number }>(relay, '/agents/X/state')
    assert.equal(state.value, value)
  })
})
