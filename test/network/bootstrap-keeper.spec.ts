/**
 * BootstrapKeeper on a manual clock with a scripted dial: when no bootstrap peer is connected it
 * redials after a jittered wait that doubles per attempt up to the cap (a relay that is down is not
 * hammered), counts from zero again once a connection has held, and does nothing once stopped.
 * It is the one loop that dials the list: a discovery round asks it for one attempt (dialNow),
 * which joins an attempt in flight and leaves the retries to the backoff. status() is what the
 * `network` health component reports.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { BootstrapKeeper, bootstrapRedialDelayMs } from '../../src/network/bootstrap-keeper.ts'
import type { BootstrapTarget } from '../../src/network/bootstrap-keeper.ts'
import { BOOTSTRAP_REDIAL_MAX_MS, BOOTSTRAP_REDIAL_MIN_MS, BOOTSTRAP_REDIAL_STABLE_MS, FAILURE_CHECK_INTERVAL_MS } from '../../src/network/constants.ts'
import { ManualClock } from '../../src/util/clock.ts'
import { seededRng } from '../../src/util/prng.ts'
import { componentLogger } from '../../src/util/logger.ts'

const ADDR = '/ip4/127.0.0.1/tcp/4001/ws/p2p/12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA'

interface Rig {
  keeper: BootstrapKeeper
  clock: ManualClock
  stop: AbortController
  /** monotonic times of the dials */
  dials: number[]
  state: { connected: boolean, answer: boolean, reconnected: number, hold?: Promise<void> }
  /** every target the keeper asked about or dialled */
  asked: BootstrapTarget[]
  /** ticks every FAILURE_CHECK_INTERVAL_MS for `ms`, letting each dial settle */
  run: (ms: number) => Promise<void>
  /** runs until the next dial (at most the capped wait and a bit) */
  untilDial: () => Promise<void>
}

function rig (seed = 7): Rig {
  const clock = new ManualClock(1000)
  const stop = new AbortController()
  const dials: number[] = []
  const state: Rig['state'] = { connected: true, answer: false, reconnected: 0 }
  const asked: BootstrapTarget[] = []
  const keeper = new BootstrapKeeper({
    bootstrap: [ADDR],
    dial: async (target) => {
      asked.push(target)
      assert.equal(target.text, ADDR)
      dials.push(clock.monotonic())
      if (state.hold !== undefined) await state.hold
      if (!state.answer) throw new Error('connection refused')
      state.connected = true
    },
    isConnectedTo: (target) => { asked.push(target); return state.connected },
    dialTimeoutMs: () => 5000,
    onReconnected: () => { state.reconnected++ },
    clock,
    rng: seededRng(seed),
    log: componentLogger('test:bootstrap-keeper'),
    stopSignal: stop.signal
  })
  const run = async (ms: number): Promise<void> => {
    for (let t = 0; t < ms; t += FAILURE_CHECK_INTERVAL_MS) {
      keeper.tick()
      // the scripted dial settles within a few microtask turns
      for (let i = 0; i < 10; i++) await Promise.resolve()
      clock.advance(FAILURE_CHECK_INTERVAL_MS)
    }
  }
  const untilDial = async (): Promise<void> => {
    const before = dials.length
    for (let t = 0; dials.length === before; t += FAILURE_CHECK_INTERVAL_MS) {
      assert.ok(t <= BOOTSTRAP_REDIAL_MAX_MS + 1000, 'no dial within the capped wait')
      await run(FAILURE_CHECK_INTERVAL_MS)
    }
  }
  return { keeper, clock, stop, dials, state, asked, run, untilDial }
}

describe('bootstrap keeper', () => {
  it('the redial wait doubles per attempt, is capped, and is jittered within [half, whole]', () => {
    const rng = seededRng(42)
    for (let attempt = 0; attempt < 40; attempt++) {
      const base = Math.min(BOOTSTRAP_REDIAL_MAX_MS, BOOTSTRAP_REDIAL_MIN_MS * 2 ** attempt)
      for (let i = 0; i < 50; i++) {
        const d = bootstrapRedialDelayMs(attempt, rng)
        assert.ok(d >= base / 2 && d <= base, `attempt ${attempt}: ${d} ms outside [${base / 2}, ${base}]`)
      }
    }
  })

  it('parses its addresses once: every tick and dial gets the same parsed target, naming the peer', async () => {
    const r = rig()
    await r.run(1000)
    r.state.connected = false
    await r.untilDial()
    assert.ok(r.asked.length > 10)
    const first = r.asked[0]!
    assert.ok(r.asked.every(t => t === first), 'one parsed target, not a new one per tick')
    assert.equal(first.peer?.toString(), ADDR.split('/p2p/')[1])
    assert.equal(first.addr.toString(), ADDR)
  })

  it('refuses an address that is no multiaddr, or names no valid peer id, when it is built', () => {
    const init = (addr: string): ConstructorParameters<typeof BootstrapKeeper>[0] => ({
      bootstrap: [ADDR, addr],
      dial: async () => {},
      isConnectedTo: () => false,
      dialTimeoutMs: () => 5000,
      clock: new ManualClock(0),
      rng: seededRng(1),
      log: componentLogger('test:bootstrap-keeper'),
      stopSignal: new AbortController().signal
    })
    assert.throws(() => new BootstrapKeeper(init('not-a-multiaddr')), { name: 'InvalidArgumentError', message: /not-a-multiaddr/ })
    assert.throws(() => new BootstrapKeeper(init('/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWRelay')), { name: 'InvalidArgumentError', message: /12D3KooWRelay/ })
    assert.equal(new BootstrapKeeper(init('/ip4/127.0.0.1/tcp/4002/ws')).status().configured, 2, 'an address without a peer id is fine')
  })

  it('does not dial while a bootstrap peer is connected', async () => {
    const r = rig()
    await r.run(60_000)
    assert.equal(r.dials.length, 0)
  })

  it('a lost bootstrap connection is redialled with a growing, capped backoff, not hammered', async () => {
    const r = rig()
    await r.run(1000)
    r.state.connected = false
    const lostAt = r.clock.monotonic()
    await r.run(5 * 60_000)
    assert.ok(r.dials.length >= 5, `dialled ${r.dials.length} times in 5 min`)
    assert.ok(r.dials[0]! - lostAt <= BOOTSTRAP_REDIAL_MIN_MS + 2 * FAILURE_CHECK_INTERVAL_MS, `first redial ${r.dials[0]! - lostAt} ms after the loss`)
    // a relay that is down sees at most one dial per (capped) wait: ~5 min / 15 s at the cap plus the ramp
    assert.ok(r.dials.length <= 5 * 60_000 / (BOOTSTRAP_REDIAL_MAX_MS / 2) + 6, `dialled ${r.dials.length} times in 5 min`)
    const gaps = r.dials.slice(1).map((t, i) => t - r.dials[i]!)
    for (const [i, gap] of gaps.entries()) {
      const base = Math.min(BOOTSTRAP_REDIAL_MAX_MS, BOOTSTRAP_REDIAL_MIN_MS * 2 ** (i + 1))
      assert.ok(gap >= base / 2 && gap <= base + 2 * FAILURE_CHECK_INTERVAL_MS, `gap ${i}: ${gap} ms, base ${base}`)
    }
    assert.ok(gaps.at(-1)! >= BOOTSTRAP_REDIAL_MAX_MS / 2, 'the wait reached the cap')
    // the relay comes back: the next attempt connects and the members are looked for again
    r.state.answer = true
    await r.run(BOOTSTRAP_REDIAL_MAX_MS + 1000)
    assert.equal(r.state.connected, true)
    assert.equal(r.state.reconnected, 1)
  })

  it('the backoff starts over once a connection has held, not while the relay keeps dropping us', async () => {
    const r = rig()
    r.state.answer = true
    r.state.connected = false
    // accepted and dropped at once, five times: the waits still grow
    for (let i = 0; i < 5; i++) {
      await r.untilDial()
      r.state.connected = false
    }
    const gaps = r.dials.slice(1).map((t, i) => t - r.dials[i]!)
    assert.ok(gaps.at(-1)! >= Math.min(BOOTSTRAP_REDIAL_MAX_MS, BOOTSTRAP_REDIAL_MIN_MS * 2 ** 4) / 2, `last gap ${gaps.at(-1)} ms: the backoff did not grow`)
    // now the connection holds for longer than the stable period: the next loss is redialled quickly
    await r.untilDial()
    assert.equal(r.state.connected, true)
    await r.run(BOOTSTRAP_REDIAL_STABLE_MS + 1000)
    r.state.connected = false
    const lostAt = r.clock.monotonic()
    await r.untilDial()
    assert.ok(r.dials.at(-1)! - lostAt <= BOOTSTRAP_REDIAL_MIN_MS + 2 * FAILURE_CHECK_INTERVAL_MS, `redial ${r.dials.at(-1)! - lostAt} ms after the loss`)
  })

  it('dialNow: true at once while connected; otherwise one attempt, and the backoff goes on after a failed one', async () => {
    const r = rig()
    assert.equal(await r.keeper.dialNow(), true)
    assert.equal(r.dials.length, 0, 'no dial while a bootstrap peer is connected')
    r.state.connected = false
    assert.equal(await r.keeper.dialNow(), false)
    assert.equal(r.dials.length, 1)
    // the keeper's ticks take over: the next dial comes after the backoff of a second attempt
    const failedAt = r.clock.monotonic()
    await r.untilDial()
    const gap = r.dials[1]! - failedAt
    const base = Math.min(BOOTSTRAP_REDIAL_MAX_MS, BOOTSTRAP_REDIAL_MIN_MS * 2)
    assert.ok(gap >= base / 2 && gap <= base + 2 * FAILURE_CHECK_INTERVAL_MS, `next dial ${gap} ms after the failed one`)
    // the relay answers: dialNow connects, and does not ask for another discovery round (its caller is one)
    r.state.answer = true
    assert.equal(await r.keeper.dialNow(), true)
    assert.equal(r.state.connected, true)
    assert.equal(r.state.reconnected, 0)
  })

  it('dialNow joins an attempt in flight instead of dialling twice, and gives up waiting on its signal', async () => {
    const r = rig()
    r.state.connected = false
    let release!: () => void
    r.state.hold = new Promise<void>(resolve => { release = resolve })
    await r.untilDial()
    assert.equal(r.dials.length, 1, 'the keeper\'s own redial is in flight')
    const joined = r.keeper.dialNow()
    const aborted = new AbortController()
    const gaveUp = r.keeper.dialNow({ signal: aborted.signal })
    aborted.abort()
    await assert.rejects(gaveUp, { name: 'AbortError' })
    r.state.answer = true
    release()
    assert.equal(await joined, true)
    assert.equal(r.dials.length, 1, 'one dial for both')
    assert.equal(r.state.reconnected, 1, 'the keeper\'s own redial connected: discovery runs again')
  })

  it('status(): connected, or since when not, how many attempts and the last error', async () => {
    const r = rig()
    await r.run(1000)
    assert.deepEqual(r.keeper.status(), { configured: 1, connected: true, attempts: 0 })
    r.state.connected = false
    const lostAt = r.clock.monotonic()
    await r.untilDial()
    const s = r.keeper.status()
    assert.equal(s.connected, false)
    assert.ok(s.lostForMs !== undefined && s.lostForMs >= r.clock.monotonic() - lostAt && s.lostForMs > 0, `lost for ${s.lostForMs} ms`)
    assert.equal(s.attempts, 1)
    assert.equal(s.lastError, 'connection refused')
    r.state.answer = true
    await r.untilDial()
    assert.deepEqual(r.keeper.status(), { configured: 1, connected: true, attempts: 2 })
  })

  it('status() of a keeper that never saw a bootstrap peer has no loss time', async () => {
    const r = rig()
    r.state.connected = false
    assert.equal(await r.keeper.dialNow(), false)
    const s = r.keeper.status()
    assert.equal(s.lostForMs, undefined)
    assert.equal(s.attempts, 1)
  })

  it('does nothing once stopped, and a dial that ends after the stop schedules nothing', async () => {
    const r = rig()
    r.state.connected = false
    await r.run(BOOTSTRAP_REDIAL_MIN_MS + 500)
    assert.equal(r.dials.length, 1)
    r.stop.abort()
    await r.run(10 * 60_000)
    assert.equal(r.dials.length, 1)
    assert.equal(r.clock.pendingTimers, 0)
  })
})
