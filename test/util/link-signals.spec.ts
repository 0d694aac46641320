import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { setMaxListeners } from 'main-event'
import { linkSignals } from '../../src/util/abort.ts'
import { raceSignal } from '../../src/util/abort.ts'
import { ManualClock } from '../../src/util/clock.ts'

describe('linkSignals', () => {
  it('fires with the input\'s reason, or with TimeoutError at the deadline, then unlinks', async () => {
    const clock = new ManualClock()
    const parent = new AbortController()
    const a = linkSignals([parent.signal, undefined], 1_000, clock)
    clock.advance(999)
    assert.equal(a.signal.aborted, false)
    clock.advance(1)
    assert.equal(a.signal.reason.name, 'TimeoutError')
    const b = linkSignals([parent.signal], undefined, clock)
    parent.abort(new Error('parent gone'))
    assert.equal(b.signal.reason.message, 'parent gone')
    assert.equal(linkSignals([parent.signal]).signal.aborted, true, 'an aborted input aborts at once')
    const c = linkSignals([new AbortController().signal], 10, clock)
    c.dispose()
    clock.advance(100)
    assert.equal(c.signal.aborted, false, 'disposed: no longer fires')
  })

  it('still fires when nothing but its inputs and timer reference it (garbage collection)', async () => {
    const gc = (globalThis as { gc?: () => void }).gc
    const parent = new AbortController()
    setMaxListeners(Infinity, parent.signal)
    let settled = 0
    const n = 20
    for (let i = 0; i < n; i++) {
      void (async () => {
        try { await raceSignal(new Promise<never>(() => {}), linkSignals([parent.signal], 30).signal) } catch { settled++ }
      })()
    }
    // with --expose-gc the collector runs between checks; without it this still checks the deadline
    const hold = setInterval(() => gc?.(), 5)
    const deadline = Date.now() + 5_000
    while (settled < n && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 10))
    clearInterval(hold)
    assert.equal(settled, n)
  })
})
