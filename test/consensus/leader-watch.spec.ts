/**
 * The Raft driver's leader watch: how long the peer has known no leader, and when callers waiting
 * for one give up. Raft drops its leader inside a tick (a follower turning pre-candidate) before
 * the Ready that reports it is handled; in that gap the stretch without a leader has only begun.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { LeaderWatch } from '../../src/consensus/driver-leader.ts'
import { NO_LEADER_GRACE_MS } from '../../src/consensus/constants.ts'
import { ManualClock } from '../../src/util/clock.ts'

const TICK_MS = 100

/** a watch whose Raft has had leader 'a' (elected and reported) for `ms` */
function ledFor (ms: number): { clock: ManualClock, leaders: LeaderWatch, raft: { lead: string } } {
  const clock = new ManualClock(1_000)
  const raft = { lead: '' }
  const leaders = new LeaderWatch(clock, {
    running: () => true,
    failure: () => undefined,
    raftLead: () => raft.lead,
    isMember: () => true,
    lastIndex: () => 10,
    tickMs: () => TICK_MS
  })
  raft.lead = 'a'
  leaders.reported('a')
  clock.advance(ms)
  return { clock, leaders, raft }
}

/** settles the promise's outcome without waiting on it */
function outcome<T> (p: Promise<T>): { value?: T, error?: Error, settled: () => boolean } {
  const o: { value?: T, error?: Error, done: boolean } = { done: false }
  p.then(v => { o.value = v; o.done = true }, (e: Error) => { o.error = e; o.done = true })
  return { get value () { return o.value }, get error () { return o.error }, settled: () => o.done }
}

const flush = async (): Promise<void> => { for (let i = 0; i < 5; i++) await Promise.resolve() }

describe('LeaderWatch', () => {
  it('a leader lost a minute after it was elected: callers wait out the grace from the loss, not from the election', async () => {
    const { clock, leaders, raft } = ledFor(60_000)
    // the tick that turned this follower pre-candidate; its Ready is not handled yet
    raft.lead = ''
    assert.equal(leaders.leaderlessMs(), 0, 'no time without a leader counted yet')
    assert.equal(leaders.graceOver(clock.monotonic()), false, 'waiting requests are not rejected at the first tick of an election')
    const waiting = outcome(leaders.waitForLeader())
    await flush()
    assert.equal(waiting.settled(), false, 'a caller waits for the election instead of failing at once')

    // the Ready reports the loss; an election takes a second
    leaders.reported('')
    clock.advance(1_000)
    await flush()
    assert.equal(waiting.settled(), false)
    assert.equal(leaders.leaderlessMs(), 1_000)
    raft.lead = 'b'
    leaders.reported('b')
    await flush()
    assert.equal(waiting.value, 'b', 'the new leader')
  })

  it('with no leader for longer than the grace, callers get NoQuorumError naming how long', async () => {
    const { clock, leaders, raft } = ledFor(5_000)
    raft.lead = ''
    leaders.reported('')
    const waiting = outcome(leaders.waitForLeader())
    for (let t = 0; t <= NO_LEADER_GRACE_MS; t += TICK_MS) {
      clock.advance(TICK_MS)
      await flush()
    }
    assert.equal(waiting.error?.name, 'NoQuorumError')
    const ms = Number(/no raft leader known for (\d+) ms/.exec(waiting.error?.message ?? '')?.[1])
    assert.ok(ms >= NO_LEADER_GRACE_MS && ms <= NO_LEADER_GRACE_MS + TICK_MS, `counted from the loss: ${ms} ms`)
    assert.equal(leaders.graceOver(clock.monotonic()), true)
    // a new caller fails at once now
    await assert.rejects(leaders.waitForLeader(), { name: 'NoQuorumError' })
  })
})
