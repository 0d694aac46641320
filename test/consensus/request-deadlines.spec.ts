/**
 * KV operations' deadlines: the driver ends a proposal's or a read's wait with TimeoutError once
 * its `timeoutMs` has passed, on its tick, without a timer or AbortSignal per request; in every
 * stage a read can wait in, and never for a request without one.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { DriverRequests } from '../../src/consensus/driver-requests.ts'
import type { RequestHost } from '../../src/consensus/driver-requests.ts'
import type { KvStateMachine } from '../../src/consensus/kv/index.ts'
import type { RawNode } from '../../src/consensus/raft/index.ts'
import { ManualClock } from '../../src/util/clock.ts'

function harness (): { clock: ManualClock, requests: DriverRequests, proposed: Uint8Array[], reads: Uint8Array[] } {
  const clock = new ManualClock(1_000)
  const proposed: Uint8Array[] = []
  const reads: Uint8Array[] = []
  const raw = { propose: (d: Uint8Array) => { proposed.push(d) }, readIndex: (ctx: Uint8Array) => { reads.push(ctx) }, raft: { lead: 'leader' } }
  const host: RequestHost = {
    clock,
    raw: () => raw as unknown as RawNode,
    sm: () => ({ requestRecord: () => undefined }) as unknown as KvStateMachine,
    accepting: () => true,
    waitForLeader: async () => 'leader',
    schedule: () => {}
  }
  return { clock, requests: new DriverRequests(host, 'peer-a', 1, 2), proposed, reads }
}

const settled = async (p: Promise<unknown>): Promise<string> => await Promise.race([
  p.then(() => 'resolved', (err: Error) => err.name),
  new Promise<string>(resolve => { setImmediate(() => { resolve('pending') }) })
])

describe('KV request deadlines on the driver tick', () => {
  it('a proposal not applied by its deadline fails with TimeoutError; one without a deadline keeps waiting', async () => {
    const { clock, requests, proposed } = harness()
    const timed = requests.propose({ type: 'put', key: 'k', value: new Uint8Array([1]) }, { timeoutMs: 500 })
    const untimed = requests.propose({ type: 'put', key: 'k', value: new Uint8Array([2]) })
    await new Promise(resolve => { setImmediate(resolve) })
    assert.equal(proposed.length, 2, 'both were handed to the core')
    clock.advance(499)
    requests.expireDue(clock.monotonic())
    assert.equal(await settled(timed), 'pending', 'not before its deadline')
    clock.advance(1)
    requests.expireDue(clock.monotonic())
    assert.equal(await settled(timed), 'TimeoutError')
    await assert.rejects(timed, /deadline of 500 ms passed/)
    clock.advance(60_000)
    requests.expireDue(clock.monotonic())
    assert.equal(await settled(untimed), 'pending')
    assert.equal(requests.proposals.size, 1, 'the timed-out waiter is gone')
    requests.rejectAll(new Error('stop'))
    await assert.rejects(untimed, /stop/)
  })

  it('a read times out whether it waits for its round, for the leader\'s answer, or for the apply', async () => {
    const { clock, requests, reads } = harness()
    // waiting in a round that is out (no answer yet)
    const inRound = requests.readBarrier({ timeoutMs: 300 })
    await new Promise(resolve => { setImmediate(resolve) })
    assert.equal(reads.length, 1)
    // waiting for the next round (one is out and fresh, so it queues)
    const queued = requests.readBarrier({ timeoutMs: 300 })
    await new Promise(resolve => { setImmediate(resolve) })
    assert.equal(reads.length, 1, 'queued behind the round that is out')
    const patient = requests.readBarrier({ timeoutMs: 10_000 })
    await new Promise(resolve => { setImmediate(resolve) })
    // the round is answered with an index not applied yet: its readers wait for the apply
    assert.ok(requests.reads.answered(reads[0], 5))
    clock.advance(300)
    requests.expireDue(clock.monotonic())
    assert.equal(await settled(inRound), 'TimeoutError', 'answered, waiting for the apply')
    assert.equal(await settled(queued), 'TimeoutError', 'queued for the next round')
    assert.equal(await settled(patient), 'pending')
    assert.equal(requests.reads.size, 1, 'the expired readers are no longer counted')
    // the patient reader rides the next round and is served when its index is applied
    requests.issueReads(clock.monotonic() + 60_000, 'leader')
    assert.equal(reads.length, 2)
    assert.ok(requests.reads.answered(reads[1], 6))
    requests.reads.release(6)
    assert.equal(await settled(patient), 'resolved')
    assert.equal(requests.reads.size, 0)
  })
})
