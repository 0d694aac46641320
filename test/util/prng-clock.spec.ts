import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { seededRng } from '../../src/util/prng.ts'
import { ManualClock } from '../../src/util/clock.ts'
import { NotFoundError, AgentMeshError, statusOf } from '../../src/errors.ts'

describe('seededRng', () => {
  it('replays the same sequence from the same seed and differs across seeds', () => {
    const a = seededRng(42); const b = seededRng(42); const c = seededRng(43)
    const sa = Array.from({ length: 20 }, () => a.int(1000))
    assert.deepEqual(sa, Array.from({ length: 20 }, () => b.int(1000)))
    assert.notDeepEqual(sa, Array.from({ length: 20 }, () => c.int(1000)))
    for (const x of sa) assert.ok(x >= 0 && x < 1000)
  })
})

describe('ManualClock', () => {
  it('fires timers in due order as time advances, intervals repeatedly', () => {
    const clock = new ManualClock(0)
    const fired: string[] = []
    clock.setTimeout(() => fired.push('t50'), 50)
    clock.setTimeout(() => fired.push('t10'), 10)
    const iv = clock.setInterval(() => fired.push(`iv@${clock.now()}`), 20)
    clock.advance(60)
    assert.deepEqual(fired, ['t10', 'iv@20', 'iv@40', 't50', 'iv@60'])
    clock.clearInterval(iv)
    clock.advance(100)
    assert.equal(fired.length, 5)
  })
})

describe('errors', () => {
  it('have stable names and HTTP statuses', () => {
    const e = new NotFoundError('agent x')
    assert.equal(e.name, 'NotFoundError')
    assert.ok(e instanceof AgentMeshError)
    assert.equal(statusOf(e), 404)
    assert.equal(statusOf(new Error('x')), 500)
  })
})
