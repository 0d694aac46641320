/** A peer's incarnation (src/network/incarnation.ts): the wall clock at start, never below the last start's. */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { INCARNATION_KEY, nextIncarnation } from '../../src/network/index.ts'
import { MemoryStore } from '../../src/storage/memory.ts'
import { ManualClock } from '../../src/util/clock.ts'

describe('incarnation', () => {
  it('is the wall clock at start, and one above the last start when the clock went back', async () => {
    const store = new MemoryStore()
    const clock = new ManualClock(1_000_000)
    assert.equal(await nextIncarnation(store, clock), 1_000_000)
    clock.advance(5_000)
    assert.equal(await nextIncarnation(store, clock), 1_005_000, 'a later start: its own time')
    const back = new ManualClock(900_000)
    assert.equal(await nextIncarnation(store, back), 1_005_001, 'the clock set back: one above the last')
    assert.equal(await nextIncarnation(store, back), 1_005_002, 'and again')
  })

  it('falls back to the wall clock when the stored value is unreadable', async () => {
    const store = new MemoryStore()
    await store.put(INCARNATION_KEY, new Uint8Array([0xff]))
    assert.equal(await nextIncarnation(store, new ManualClock(42_000)), 42_000)
    assert.equal(await nextIncarnation(store, new ManualClock(1_000)), 42_001, 'and keeps counting from there')
  })
})
