/**
 * Forced recovery with real processes: an agent's owner and a second member of its state replica
 * set are SIGKILLed for good. The agent then stays unavailable (a failover may not take it over
 * from one member when two hold each acknowledged turn) until an operator forces its recovery
 * over HTTP; then it answers again with the state its last member holds, and gets a full replica
 * set again.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { getJson, postJson as post, startProcessMesh, waitUntil, type PeerProcess } from '../helpers/processes.ts'

interface AgentView { id: string, node: string, epoch: number, replicas?: string[], acks?: number }

describe('forced recovery of an agent whose replica set lost two members for good', () => {
  const dir = mkdtempSync(join(tmpdir(), 'agentmesh-forced-'))
  let relay: PeerProcess
  let nodes: PeerProcess[] = []

  before(async () => {
    ({ relay, nodes } = await startProcessMesh(dir, 'forced-recovery', 4))
    // two peers are killed below: Raft survives that only with five voters. The autopilot grows the
    // group 3 -> 4 -> 5 one change at a time, and two kills while it has four lose the majority
    await waitUntil(async () => (await getJson<{ voters: string[] }>(relay, '/consensus')).voters.length === 5, 30_000, 'the raft group to have five voters')
  })

  after(async () => {
    await Promise.all([relay, ...nodes].map(async p => { await p?.stop() }))
    rmSync(dir, { recursive: true, force: true })
  })

  it('waits for lost members, refuses to force while enough are reachable, and comes back from the last one when forced', async () => {
    const ids = nodes.map(n => n.ready.peerId)
    const deployedOn = nodes[0]
    assert.equal((await post(relay, '/agents', { id: 'F', kind: 'counter', node: deployedOn.ready.peerId })).status, 201)
    for (let i = 1; i <= 10; i++) {
      const r = await post<{ reply: { value: number } }>(relay, '/agents/F/messages', { message: { op: 'inc' } })
      assert.deepEqual(r.json.reply, { value: i })
    }
    const deployed = await getJson<AgentView>(relay, '/agents/F')
    assert.ok(deployed.replicas != null && deployed.acks != null, 'GET /agents/F shows its replica set')
    assert.ok(deployed.replicas.includes(deployedOn.ready.peerId))
    assert.equal(deployed.replicas.length - deployed.acks + 1, 2, `a failover needs two members (${deployed.replicas.length} replicas, ${deployed.acks} acks)`)

    const refused = await post<{ error: { name: string } }>(relay, '/agents/F/recover', { acceptLoss: true })
    assert.equal(refused.status, 409, 'nothing to force while every member is reachable')
    assert.equal((await post(relay, '/agents/F/recover', { acceptLoss: false })).status, 400, 'the body must accept the loss')
    assert.equal((await post(relay, '/agents/F/recover', {})).status, 400)

    // every turn's update reaches all three members when it is flushed; give the last one a moment
    await new Promise(resolve => setTimeout(resolve, 1000))
    // the owner and a second member are frozen (SIGSTOP), then the placement is read again: a frozen
    // owner can neither move the agent nor change its set, so what is read then is what the kill
    // leaves. On a loaded machine a peer can be taken for failed a moment and the agent moved (with
    // all its state) just before the freeze: then both go on and the choice is made again
    const { voters } = await getJson<{ voters: string[] }>(relay, '/consensus')
    const majorityLeft = (killed: string[]): boolean => voters.filter(v => !killed.includes(v)).length > voters.length / 2
    const sameView = (a: AgentView, b: AgentView): boolean => a.node === b.node && a.epoch === b.epoch && a.acks === b.acks && JSON.stringify(a.replicas) === JSON.stringify(b.replicas)
    /** freezes F's owner and a second member; throws (both going on again) when F moved meanwhile */
    const freeze = async (): Promise<{ placed: AgentView, owner: PeerProcess, second: PeerProcess }> => {
      const seen = await getJson<AgentView>(relay, '/agents/F')
      assert.ok(seen.replicas != null && seen.acks != null && seen.replicas.length - seen.acks + 1 === 2, `a replica set that needs two members: ${JSON.stringify(seen)}`)
      const ownerNow = nodes.find(n => n.ready.peerId === seen.node)
      assert.ok(ownerNow != null, `F runs on a node peer (${seen.node})`)
      // a second member besides the owner, not the relay, whose loss with the owner's leaves Raft a majority
      const others = seen.replicas.filter(p => p !== ownerNow.ready.peerId && ids.includes(p))
      const secondId = others.find(p => majorityLeft([ownerNow.ready.peerId, p]))
      const secondNow = nodes.find(n => n.ready.peerId === secondId)
      assert.ok(secondNow != null, `a second member to kill that leaves Raft a majority (set ${seen.replicas.join(', ')}, voters ${voters.join(', ')})`)
      ownerNow.kill('SIGSTOP')
      secondNow.kill('SIGSTOP')
      // a write the owner had under way before it froze commits in a moment
      await new Promise(resolve => setTimeout(resolve, 500))
      const now = await getJson<AgentView>(relay, '/agents/F')
      if (sameView(seen, now)) return { placed: now, owner: ownerNow, second: secondNow }
      ownerNow.kill('SIGCONT')
      secondNow.kill('SIGCONT')
      assert.fail(`F moved while its owner froze: ${JSON.stringify(seen)} then ${JSON.stringify(now)}`)
    }
    const frozen = await freeze().catch(async () => await freeze())
    const { placed, owner, second } = frozen
    const survivor = placed.replicas!.find(p => p !== owner.ready.peerId && p !== second.ready.peerId)!
    owner.kill('SIGKILL')
    second.kill('SIGKILL')

    // once the relay knows both are gone, the agent is re-placed and its activation waits for a
    // second member: unavailable, however long
    const lostIds = [owner.ready.peerId, second.ready.peerId]
    await waitUntil(async () => {
      const seen = (await getJson<Array<{ peerId: string, status: string }>>(relay, '/nodes')).filter(m => lostIds.includes(m.peerId))
      return seen.length === 2 && seen.every(m => m.status === 'failed')
    }, 30_000, 'the relay to see both peers failed')
    const assertUnavailable = async (calls: number, after: string): Promise<void> => {
      for (let i = 0; i < calls; i++) {
        const call = await post<unknown>(relay, '/agents/F/messages', { message: { op: 'get' }, timeoutMs: 2000 }).catch(() => ({ status: 0, json: {} }))
        if (call.status === 200) {
          // what the mesh saw, for the failure's message
          const now = await getJson<AgentView>(relay, '/agents/F').catch(err => String(err))
          const seen = await getJson<unknown>(relay, '/nodes').catch(err => String(err))
          assert.fail(`no answer from one member where two are needed (${after}); got ${JSON.stringify(call.json)} with F placed ${JSON.stringify(now)} ` +
            `(before the kill ${JSON.stringify(placed)}), nodes ${JSON.stringify(seen)}`)
        }
      }
    }
    await assertUnavailable(3, 'after the kill')

    // nor does an operator's move get around it. F is placed on a peer that does not run it; moved
    // first to the last member, then from there to a peer outside the set, it must catch up from a
    // read quorum each time, never from the copy of the peer it is moved from
    const outside = nodes.find(n => n !== owner && n !== second && !placed.replicas!.includes(n.ready.peerId))
    assert.ok(outside != null, 'a live node outside the set')
    const move = async (to: string): Promise<{ status: number, json: { error?: { name: string } } }> => {
      for (let attempt = 1; ; attempt++) {
        const r = await post<{ error?: { name: string } }>(relay, '/agents/F/migrate', { node: to }, 20_000)
        // a claim by the peer F is placed on can change the record under the move: again
        if (r.json.error?.name !== 'ConflictError' || attempt === 5) return r
      }
    }
    await move(survivor)
    // (refused too, but the record names the last member from then on)
    await waitUntil(async () => (await getJson<AgentView>(relay, '/agents/F')).node === survivor, 10_000, 'F placed on the last member')
    const refusal = await move(outside.ready.peerId)
    assert.notEqual(refusal.status, 200, 'a move to a peer outside the set is refused')
    assert.equal(refusal.json.error?.name, 'UnreachableError', `the move is refused for want of a read quorum: ${JSON.stringify(refusal.json)}`)
    await assertUnavailable(2, 'after the moves')

    // once the lost peers are known failed, the operator forces the recovery
    let forced: { status: number, json: { replicas: string[], lost: string[], node: string } } | undefined
    await waitUntil(async () => {
      forced = await post(relay, '/agents/F/recover', { acceptLoss: true })
      return forced.status === 200
    }, 60_000, 'the forced recovery to be taken')
    assert.deepEqual(forced!.json.replicas, [survivor])
    assert.deepEqual([...forced!.json.lost].sort(), [...lostIds].sort())

    let value: number | undefined
    await waitUntil(async () => {
      const r = await post<{ reply?: { value: number } }>(relay, '/agents/F/messages', { message: { op: 'get' }, timeoutMs: 3000 }).catch(() => undefined)
      value = r?.status === 200 ? r.json.reply?.value : undefined
      return value !== undefined
    }, 60_000, 'the agent to answer again')
    assert.equal(value, 10, 'the last member held every turn')
    const next = await post<{ reply: { value: number } }>(relay, '/agents/F/messages', { message: { op: 'inc' } })
    assert.deepEqual(next.json.reply, { value: 11 })
    // the new owner records a full set of its own again
    await waitUntil(async () => {
      const p = await getJson<AgentView>(relay, '/agents/F')
      return p.replicas?.length === 3 && p.acks === 2 && !p.replicas.includes(owner.ready.peerId) && !p.replicas.includes(second.ready.peerId)
    }, 30_000, 'a full replica set of live peers')
  })
})
