import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { GridInterval, systemClock } from '../../src/util/clock.ts'
import type { GridTimers } from '../../src/util/clock.ts'

/** one-shot timers on a clock that moves only when told; `stall` moves it without firing anything */
class FakeTimers implements GridTimers {
  time: number
  private next = 1
  private readonly pending = new Map<number, { at: number, fn: () => void }>()
  constructor (start: number) { this.time = start }
  now = (): number => this.time
  setTimeout = (fn: () => void, ms: number): unknown => { const id = this.next++; this.pending.set(id, { at: this.time + ms, fn }); return id }
  clearTimeout = (h: unknown): void => { this.pending.delete(h as number) }
  get armed (): number { return this.pending.size }
  /** moves to `to`, firing due timers in order, each `late` ms after its due time */
  advanceTo (to: number, late = 0): void {
    for (;;) {
      const due = [...this.pending.entries()].sort((a, b) => a[1].at - b[1].at)[0]
      if (due === undefined || due[1].at + late > to) break
      this.pending.delete(due[0])
      this.time = Math.max(this.time, due[1].at + late)
      due[1].fn()
    }
    this.time = to
  }

  stall (ms: number): void { this.time += ms }
}

describe('GridInterval (systemClock.setInterval)', () => {
  it('runs on multiples of its period, first at the next one after the start', () => {
    const t = new FakeTimers(1030)
    const runs: number[] = []
    const i = new GridInterval(() => { runs.push(t.now()) }, 100, t)
    t.advanceTo(1500)
    assert.deepEqual(runs, [1100, 1200, 1300, 1400, 1500])
    i.stop()
  })

  it('two intervals with different periods wake together on their common multiples', () => {
    const t = new FakeTimers(7)
    const a: number[] = []
    const b: number[] = []
    const ia = new GridInterval(() => { a.push(t.now()) }, 100, t)
    const ib = new GridInterval(() => { b.push(t.now()) }, 250, t)
    t.advanceTo(1000)
    assert.deepEqual(b, [250, 500, 750, 1000])
    assert.ok([500, 1000].every(x => a.includes(x)))
    ia.stop(); ib.stop()
  })

  it('late runs do not drift the later ones, and grid points missed in a stall are skipped', () => {
    const t = new FakeTimers(0)
    const runs: number[] = []
    const i = new GridInterval(() => { runs.push(t.now()) }, 100, t)
    t.advanceTo(300, 7)
    assert.deepEqual(runs, [107, 207])
    t.advanceTo(310, 7)
    assert.deepEqual(runs, [107, 207, 307])
    t.stall(450) // a blocked event loop: nothing fires until 760
    t.advanceTo(1000)
    // the run due at 400 comes at once, late; 500-700 were missed and are not made up
    assert.deepEqual(runs.slice(3), [760, 800, 900, 1000])
    i.stop()
  })

  it('stops for good, also from inside its own run', () => {
    const t = new FakeTimers(0)
    let runs = 0
    const i: GridInterval = new GridInterval(() => { if (++runs === 3) i.stop() }, 10, t)
    t.advanceTo(1000)
    assert.equal(runs, 3)
    assert.equal(t.armed, 0)
  })

  it('systemClock: clearInterval and clearTimeout both stop an interval', async () => {
    let a = 0
    let b = 0
    const ha = systemClock.setInterval(() => { a++ }, 5)
    const hb = systemClock.setInterval(() => { b++ }, 5)
    await new Promise(resolve => setTimeout(resolve, 40))
    assert.ok(a > 0 && b > 0)
    systemClock.clearInterval(ha)
    systemClock.clearTimeout(hb)
    const [sa, sb] = [a, b]
    await new Promise(resolve => setTimeout(resolve, 40))
    assert.deepEqual([a, b], [sa, sb])
  })
})
