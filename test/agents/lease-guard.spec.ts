import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { LeaseGuard } from '../../src/agents/lease-guard.ts'
import type { DistributedAgentManager } from '../../src/agents/manager.ts'
import { ManualClock } from '../../src/util/clock.ts'
import { deferred } from '../../src/util/abort.ts'

/** the parts of NodeLease the guard uses: an id, validity, whenValid and its events */
class FakeLease extends EventTarget {
  id = 3
  private validNow = true
  valid (): boolean { return this.id !== 0 && this.validNow }
  async whenValid (_maxMs: number, signal?: AbortSignal): Promise<boolean> {
    if (this.valid()) return true
    return await new Promise<boolean>(resolve => {
      const done = (): void => { this.removeEventListener('lease:renewed', done); resolve(this.valid()) }
      this.addEventListener('lease:renewed', done)
      signal?.addEventListener('abort', done, { once: true })
    })
  }

  lapse (): void { this.validNow = false }
  /** the store no longer knows the lease (NodeLease: renewal answered NotFound) */
  lose (): void {
    this.id = 0
    this.validNow = false
    this.dispatchEvent(new CustomEvent('lease:lost', { detail: { lease: 3 } }))
  }

  /** a new grant, events in NodeLease's order */
  grant (id: number): void {
    this.id = id
    this.validNow = true
    this.dispatchEvent(new CustomEvent('lease:renewed', { detail: { lease: id } }))
    this.dispatchEvent(new CustomEvent('lease:granted', { detail: { lease: id } }))
  }
}

function fakeManager (lease: FakeLease, placementRead: Promise<{ id: string, node: string, epoch: number }>, events: string[]): DistributedAgentManager {
  const running = new Map([['ctr', { id: 'ctr', kind: 'counter', epoch: 19 }]])
  return {
    peerId: 'me',
    clock: new ManualClock(1_000),
    lease,
    components: { network: { setExtension: () => {} } },
    log: Object.assign(() => {}, { error: () => {} }),
    read: async () => await placementRead,
    local: {
      host: { list: () => [...running.values()], recordExt: () => ({ kinds: ['counter'] }) },
      surrender: async (id: string) => { events.push(`surrendered ${id}`); running.delete(id) }
    }
  } as unknown as DistributedAgentManager
}

describe('lease guard', () => {
  it('a request waiting through a lost and re-granted lease is not served before what runs here is re-checked', async () => {
    const lease = new FakeLease()
    const read = deferred<{ id: string, node: string, epoch: number }>()
    const events: string[] = []
    const guard = new LeaseGuard(fakeManager(lease, read.promise, events), () => {})
    guard.start()
    // cut off: the lease lapses, a request arrives and waits for it
    lease.lapse()
    const serving = guard.mayServe().then(ok => { events.push(`mayServe ${String(ok)}`); return ok })
    // healed: the store says the lease is gone, and a new one is granted at once
    lease.lose()
    lease.grant(251)
    // the re-check reads the placement: the agent was re-placed on another peer meanwhile
    for (let i = 0; i < 20; i++) await Promise.resolve()
    assert.deepEqual(events, [], 'nothing is served while the placement is being read back')
    read.resolve({ id: 'ctr', node: 'other', epoch: 40 })
    assert.equal(await serving, true)
    assert.deepEqual(events, ['surrendered ctr', 'mayServe true'], 'the superseded agent is surrendered before the request goes on (and then finds it gone)')
    guard.stop()
  })
})
