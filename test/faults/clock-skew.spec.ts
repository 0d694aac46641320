/**
 * Clock skew, where the code reads clocks: the fault-injection hook of the CLI
 * (AGENTMESH_CLOCK_SKEW_MS / AGENTMESH_CLOCK_SKEW_FILE move what systemClock.now() reads, and only
 * that), and the hybrid logical clock between peers whose wall clocks are off by seconds to
 * minutes and stepped back and forth while they talk: stamps stay causal.
 */
import { afterEach, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { applyClockSkew } from '../../src/cli/clock-skew.ts'
import { setWallClockSkew, systemClock, wallClockSkew, type Clock } from '../../src/util/clock.ts'
import { HLC_MAX_SKEW_MS, HybridLogicalClock, compareHlc, type HlcTimestamp } from '../../src/util/hlc.ts'
import { seededRng } from '../../src/util/prng.ts'

async function until (what: string, ok: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = performance.now() + timeoutMs
  while (!ok()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 20))
  }
}

describe('clock skew injection', () => {
  afterEach(() => { setWallClockSkew(0) })

  it('a start skew moves the wall clock, not monotonic time', () => {
    const stop = applyClockSkew({ AGENTMESH_CLOCK_SKEW_MS: '-90000' })
    stop()
    assert.equal(wallClockSkew(), -90_000)
    const off = systemClock.now() - Date.now()
    assert.ok(off <= -89_990 && off >= -90_010, `read ${off} ms off`)
    const mono = systemClock.monotonic()
    assert.ok(Math.abs(mono - performance.now()) < 50, 'monotonic time is not skewed')
  })

  it('a skew file steps a running clock, bad values there are ignored, bad values at start refused', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'agentmesh-skew-'))
    const file = join(dir, 'skew')
    try {
      writeFileSync(file, '5000')
      const stop = applyClockSkew({ AGENTMESH_CLOCK_SKEW_FILE: file })
      try {
        assert.equal(wallClockSkew(), 5000, 'read at start')
        writeFileSync(file, '-120000\n')
        await until('the step back', () => wallClockSkew() === -120_000)
        writeFileSync(file, 'soon')
        writeFileSync(file, '999999999999')
        writeFileSync(file, '250')
        await until('the next step', () => wallClockSkew() === 250)
        writeFileSync(file, 'not a number')
        await new Promise(resolve => setTimeout(resolve, 500))
        assert.equal(wallClockSkew(), 250, 'a bad value later leaves the skew as it was')
      } finally {
        stop()
      }
      assert.throws(() => applyClockSkew({ AGENTMESH_CLOCK_SKEW_MS: '12 minutes' }), { name: 'InvalidArgumentError' })
      assert.throws(() => applyClockSkew({ AGENTMESH_CLOCK_SKEW_MS: String(2 * 24 * 3600_000) }), { name: 'InvalidArgumentError' })
      writeFileSync(file, '1.5')
      assert.throws(() => applyClockSkew({ AGENTMESH_CLOCK_SKEW_FILE: file }), { name: 'InvalidArgumentError' })
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})

/** a peer's wall clock: shared true time plus its own offset, which the test steps */
class SkewedClock implements Clock {
  offsetMs: number
  constructor (private readonly truth: { ms: number }, offsetMs: number) { this.offsetMs = offsetMs }
  now (): number { return this.truth.ms + this.offsetMs }
  monotonic (): number { return this.truth.ms }
  setTimeout (): never { throw new Error('unused') }
  clearTimeout (): void {}
  setInterval (): never { throw new Error('unused') }
  clearInterval (): void {}
}

describe('hybrid logical clocks between skewed peers', () => {
  it('stay causal through skews of seconds to minutes and steps back and forth (seeded)', () => {
    let refused = 0
    for (const seed of [1, 2, 3, 4, 5, 6, 7, 8]) {
      const rng = seededRng(seed)
      const truth = { ms: 1_700_000_000_000 }
      const n = 4
      const clocks = Array.from({ length: n }, () => new SkewedClock(truth, 0))
      const hlcs = clocks.map(c => new HybridLogicalClock(c))
      const last: HlcTimestamp[] = hlcs.map(h => h.peek())
      /** messages in flight, with the sender's stamp */
      const inFlight: Array<{ to: number, stamp: HlcTimestamp }> = []
      let delivered = 0
      const within = HLC_MAX_SKEW_MS - 5000
      for (let step = 0; step < 4000; step++) {
        truth.ms += rng.int(30)
        const p = rng.int(n)
        const dice = rng.next()
        if (dice < 0.05) {
          // a step: anywhere within the peers' tolerance, either way, or minutes back
          clocks[p].offsetMs = rng.next() < 0.7 ? rng.int(2 * within) - within : -rng.int(5 * 60_000)
        } else if (dice < 0.4) {
          const t = hlcs[p].send()
          assert.ok(compareHlc(t, last[p]) > 0, `seed ${seed}: peer ${p}'s stamps went back after a clock step`)
          last[p] = t
          inFlight.push({ to: (p + 1 + rng.int(n - 1)) % n, stamp: t })
        } else if (dice < 0.8 && inFlight.length > 0) {
          const m = inFlight.splice(rng.int(inFlight.length), 1)[0]
          const before = hlcs[m.to].peek()
          const ahead = m.stamp.wallMs - clocks[m.to].now()
          if (ahead > HLC_MAX_SKEW_MS) {
            assert.throws(() => hlcs[m.to].receive(m.stamp), { name: 'ClockSkewError' })
            assert.deepEqual(hlcs[m.to].peek(), before, 'a refused stamp does not move the clock')
            refused++
            continue
          }
          const r = hlcs[m.to].receive(m.stamp)
          assert.ok(compareHlc(r, m.stamp) > 0, `seed ${seed}: a receive is ordered after the send it follows`)
          assert.ok(compareHlc(r, last[m.to]) > 0, `seed ${seed}: and after everything the receiver did before`)
          last[m.to] = r
          delivered++
        } else {
          const t = hlcs[p].send()
          assert.ok(compareHlc(t, last[p]) > 0, `seed ${seed}: local events stay in order`)
          last[p] = t
        }
      }
      assert.ok(delivered > 500, `seed ${seed}: messages were exchanged (${delivered})`)
      // stamps follow physical time: no peer's clock was dragged beyond the furthest-ahead clock it heard of
      const maxWall = truth.ms + within
      for (const h of hlcs) assert.ok(h.peek().wallMs <= maxWall + HLC_MAX_SKEW_MS, `seed ${seed}: a clock ran away to ${h.peek().wallMs - truth.ms} ms ahead`)
    }
    assert.ok(refused > 0, 'a peer minutes behind refused stamps from the future (the refusal path ran)')
  })
})
