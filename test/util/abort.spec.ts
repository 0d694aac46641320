import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { raceSignal } from '../../src/util/abort.ts'

describe('raceSignal', () => {
  it('rejects with TimeoutError when the signal times out, AbortError when aborted', async () => {
    // AbortSignal.timeout's timer doesn't keep the process alive: hold it open meanwhile
    const keepAlive = setTimeout(() => {}, 1000)
    await assert.rejects(raceSignal(new Promise(() => {}), AbortSignal.timeout(10)), { name: 'TimeoutError' })
    clearTimeout(keepAlive)
    const c = new AbortController()
    const p = raceSignal(new Promise(() => {}), c.signal)
    c.abort()
    await assert.rejects(p, { name: 'AbortError' })
  })

  it('leaves no unhandled rejection when the signal had already fired and the promise rejects later', async () => {
    const unhandled: unknown[] = []
    const onUnhandled = (reason: unknown): void => { unhandled.push(reason) }
    process.on('unhandledRejection', onUnhandled)
    try {
      const c = new AbortController()
      c.abort()
      const late = new Promise((_resolve, reject) => setTimeout(() => { reject(new Error('late')) }, 5))
      await assert.rejects(raceSignal(late, c.signal), { name: 'AbortError' })
      await new Promise(resolve => setTimeout(resolve, 30))
      assert.deepEqual(unhandled, [])
    } finally {
      process.off('unhandledRejection', onUnhandled)
    }
  })
})
