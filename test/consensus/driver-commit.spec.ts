/**
 * Three RaftDrivers in one process, their messages handed over directly: a write committed by the
 * two followers' durable copies is applied and answered on the leader while the leader's own
 * write of it is still running (the leader's copy counts only once written, so the commit index
 * rests on durable copies alone, and applying does not wait for this peer's fsync); and a follower
 * that applies a write it forwarded answers its caller before it answers the commit notice.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { RaftDriver } from '../../src/consensus/index.ts'
import { DurableRaftLog } from '../../src/consensus/log-store.ts'
import type { Message } from '../../src/consensus/raft/index.ts'
import { MemoryStore } from '../../src/storage/memory.ts'
import type { BatchOp } from '../../src/storage/types.ts'
import { systemClock } from '../../src/util/clock.ts'
import { componentLogger } from '../../src/util/logger.ts'
import { seededRng } from '../../src/util/prng.ts'
import { waitFor } from '../network/harness.ts'

/** a store whose writes can be held: a disk that has not finished a write yet */
class HeldStore extends MemoryStore {
  private gate: Promise<void> | undefined
  private open: (() => void) | undefined
  writesHeld = 0

  hold (): void { this.gate = new Promise(resolve => { this.open = resolve }) }
  release (): void { this.open?.(); this.gate = undefined }

  override async batch (ops: BatchOp[]): Promise<void> {
    if (this.gate !== undefined) { this.writesHeld++; await this.gate }
    await super.batch(ops)
  }
}

const enc = new TextEncoder()
const dec = new TextDecoder()

async function group (onSend?: (from: string, messages: Message[]) => void): Promise<{ drivers: Map<string, RaftDriver>, stores: Map<string, HeldStore>, stop: () => Promise<void> }> {
  const drivers = new Map<string, RaftDriver>()
  const stores = new Map<string, HeldStore>()
  for (const id of ['a', 'b', 'c']) {
    const store = new HeldStore()
    stores.set(id, store)
    const driver = new RaftDriver({
      id,
      log: await DurableRaftLog.open(store),
      sender: {
        send: (to: string, messages: Message[]) => {
          onSend?.(id, messages)
          for (const m of messages) setImmediate(() => { drivers.get(to)?.receive(m, '') })
        }
      },
      clock: systemClock,
      rng: seededRng(id.charCodeAt(0)),
      logger: componentLogger(`test:driver-commit:${id}`)
    })
    drivers.set(id, driver)
    driver.start()
  }
  return { drivers, stores, stop: async () => { for (const d of drivers.values()) await d.stop() } }
}

describe('RaftDriver commit and apply', () => {
  it('answers a write the two followers hold durably while the leader\'s own write is still running', async () => {
    const { drivers, stores, stop } = await group()
    try {
      const a = drivers.get('a')!
      await a.bootstrap({ voters: ['a', 'b', 'c'], learners: [] })
      await waitFor(() => a.status().role === 'leader', 10_000, 'a to lead')
      await a.propose({ type: 'put', key: 'k', value: enc.encode('"1"') })
      await waitFor(() => [...drivers.values()].every(d => d.status().applied === a.status().commit), 10_000, 'every peer to apply the first write')

      // the leader's disk does not finish its next write
      stores.get('a')!.hold()
      const put = a.propose({ type: 'put', key: 'k', value: enc.encode('"2"') })
      const answered = await Promise.race([put.then(() => true), new Promise<false>(resolve => setTimeout(() => { resolve(false) }, 5_000))])
      assert.equal(stores.get('a')!.writesHeld, 1, 'the leader\'s write is still held')
      assert.equal(answered, true, 'committed by b and c, applied and answered on the leader')
      assert.equal(dec.decode(a.sm.get('k')?.value), '"2"')

      stores.get('a')!.release()
      await waitFor(() => [...drivers.values()].every(d => d.status().applied === a.status().commit), 10_000, 'every peer to apply the second write')
      for (const d of drivers.values()) assert.equal(dec.decode(d.sm.get('k')?.value), '"2"')
    } finally {
      stores.get('a')!.release()
      await stop()
    }
  })

  it('answers a caller on a follower before the follower answers the commit notice that told it', async () => {
    // what follower b sends once it has applied past `watchFrom`, and when b's caller resumed
    const events: string[] = []
    let watchFrom = Infinity
    let b: RaftDriver | undefined
    const { drivers, stop } = await group((from, messages) => {
      if (from !== 'b' || b === undefined || b.sm.appliedIndex < watchFrom) return
      for (const m of messages) events.push(`send ${m.type}`)
    })
    try {
      const a = drivers.get('a')!
      b = drivers.get('b')!
      await a.bootstrap({ voters: ['a', 'b', 'c'], learners: [] })
      await waitFor(() => a.status().role === 'leader', 10_000, 'a to lead')
      await a.propose({ type: 'put', key: 'k', value: enc.encode('"1"') })
      await waitFor(() => [...drivers.values()].every(d => d.status().applied === a.status().commit), 10_000, 'every peer to apply the first write')

      // b forwards the write to a; a's commit notice tells b, and b applies it
      watchFrom = b.sm.appliedIndex + 1
      await b.propose({ type: 'put', key: 'k', value: enc.encode('"2"') })
      events.push('answered')
      await waitFor(() => events.some(e => e !== 'answered'), 10_000, 'b to answer the commit notice')
      assert.equal(events[0], 'answered', `b's caller resumes first (${events.join(', ')})`)
      assert.equal(dec.decode(b.sm.get('k')?.value), '"2"')
    } finally {
      await stop()
    }
  })
})
