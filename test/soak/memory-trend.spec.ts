/** the soak's memory trend: growth after warm-up, not the GC saw, is what it reports */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { linearSlope, memoryTrend, rollingFloor, type MemoryPoint } from './memory-trend.ts'

/** a heap that saws between collections: floor + up to 20 MB of garbage, sampled every 10 s */
function sawtooth (minutes: number, floorAt: (minute: number) => number): MemoryPoint[] {
  const out: MemoryPoint[] = []
  for (let i = 0; i <= minutes * 6; i++) {
    const minute = i / 6
    // garbage builds over 7 samples then is collected: samples land all over the saw
    out.push({ minute, mb: floorAt(minute) + (i % 7) * 20 / 6 })
  }
  return out
}

describe('soak memory trend', () => {
  it('fits a straight line exactly', () => {
    assert.equal(linearSlope([{ minute: 0, mb: 10 }, { minute: 2, mb: 14 }, { minute: 4, mb: 18 }]), 2)
    assert.ok(Number.isNaN(linearSlope([{ minute: 1, mb: 10 }])))
  })

  it('takes the smallest sample around each point', () => {
    const floors = rollingFloor([{ minute: 0, mb: 50 }, { minute: 0.5, mb: 40 }, { minute: 1.2, mb: 45 }, { minute: 1.9, mb: NaN }, { minute: 3, mb: 60 }], 1)
    assert.deepEqual(floors, [{ minute: 0, mb: 50 }, { minute: 0.5, mb: 40 }, { minute: 1.2, mb: 40 }, { minute: 3, mb: 60 }])
  })

  it('reports a flat heap after warm-up as flat, whatever the GC saw does', () => {
    // warm-up: +30 MB over the first 3 minutes, then flat
    const trend = memoryTrend(sawtooth(10, m => 100 + 10 * Math.min(m, 3)))
    assert.ok(Math.abs(trend.mbPerMin) < 0.5, `slope ${trend.mbPerMin}`)
    assert.ok(trend.floors.length >= 4)
  })

  it('reports a steady leak at its rate', () => {
    const trend = memoryTrend(sawtooth(10, m => 100 + 5 * m))
    assert.ok(Math.abs(trend.mbPerMin - 5) < 0.6, `slope ${trend.mbPerMin}`)
  })
})
