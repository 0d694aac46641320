/**
 * The turn fence (src/agents/turn-fence.ts): an owner whose node lease lapsed during a turn does
 * not release that turn's reply unless it is still the owner. Real NodeLease, LeaseGuard and
 * LocalAgents on a ManualClock; the store (lease renewals, placement reads) and the write concern
 * (the flush to replicas) are fakes the test cuts off and heals.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import * as Y from 'yjs'
import { YKeyValue, type StoredKvEntry } from '../../src/consensus/crdt/index.ts'
import { InvalidArgumentError, NotFoundError } from '../../src/errors.ts'
import { defineAgent } from '../../src/agents/define.ts'
import { counter } from '../../src/agents/kinds/counter.ts'
import { LeaseGuard } from '../../src/agents/lease-guard.ts'
import { LocalAgents, type AgentDocs } from '../../src/agents/local-agents.ts'
import type { DistributedAgentManager } from '../../src/agents/manager.ts'
import { NodeLease } from '../../src/agents/node-lease.ts'
import type { Placement } from '../../src/agents/directory.ts'
import type { AgentServices, JsonValue } from '../../src/agents/types.ts'
import type { LlmClient } from '../../src/agents/llm-types.ts'
import { deferred, raceSignal } from '../../src/util/abort.ts'
import { ManualClock } from '../../src/util/clock.ts'
import { flush } from './helpers.ts'

const log = Object.assign(() => {}, { error: () => {} }) as never

/** a counter whose `hold` message waits for the test's gate, then refuses (InvalidArgumentError): a turn that ends without a write */
let gate = deferred<void>()
const gated = defineAgent({
  kind: 'gated',
  requirements: { cpu: 0.01, memoryMb: 1 },
  async onMessage (message, ctx) {
    if ((message as { op: string }).op === 'hold') { await gate.promise; throw new InvalidArgumentError('held, then refused') }
    const value = ((ctx.state.get('value') as number | undefined) ?? 0) + 1
    ctx.state.set('value', value)
    return { value }
  }
})

/** the write concern: flushes wait while the replicas are cut off */
class FakeDocs implements AgentDocs {
  cut = false
  private healed = deferred<void>()
  private readonly docs = new Map<string, Y.Doc>()
  private readonly maps = new Map<string, YKeyValue<unknown>>()
  heal (): void { this.cut = false; this.healed.resolve(); this.healed = deferred<void>() }
  async replicateState (id: string): Promise<Y.Doc> {
    let doc = this.docs.get(id)
    if (doc == null) this.docs.set(id, doc = new Y.Doc())
    return doc
  }

  keyValue (doc: Y.Doc, name = 'state'): YKeyValue<unknown> {
    const key = `${doc.guid}/${name}`
    let kv = this.maps.get(key)
    if (kv == null) this.maps.set(key, kv = new YKeyValue(doc.getArray<StoredKvEntry>(name)))
    return kv
  }

  async flush (_doc: Y.Doc | string, options: { signal?: AbortSignal } = {}): Promise<void> {
    if (this.cut) await raceSignal(this.healed.promise, options.signal)
  }

  getDoc (id: string): Y.Doc {
    const doc = this.docs.get(id)
    if (doc == null) throw new NotFoundError(id)
    return doc
  }

  async syncWith (): Promise<void> {}
  holders (): Array<{ peer: string }> { return [] }
  async retire (): Promise<void> {}
  async release (): Promise<void> {}
  docIds (): string[] { return [...this.docs.keys()] }
  peers (): string[] { return [] }
  replicasOf (): number { return 2 }
}

/** the Raft store as the lease and the placement reads see it */
class FakeStore {
  /** renewals fail (this peer cannot reach the majority) */
  cut = false
  /** the leader expired this peer's lease while it was cut off */
  expired = false
  private nextLease = 3
  placement: Placement = { id: 'ctr', kind: 'counter', node: 'me', epoch: 19, config: {}, status: 'active' }
  /** placement reads in flight: the test answers them */
  readonly reads: Array<{ answer: () => void }> = []
  readonly kv = {
    grantLease: async () => ({ id: this.nextLease, ttlMs: 2000, expiresAtMs: 0 }),
    keepAlive: async (id: number) => {
      if (this.cut) throw new Error('no majority in reach')
      if (this.expired) { this.expired = false; this.nextLease = 251; throw new NotFoundError(`lease ${id} not found`) }
      return { id, ttlMs: 2000, expiresAtMs: 0 }
    },
    revoke: async () => {}
  }

  async read (): Promise<Placement> {
    const d = deferred<Placement>()
    this.reads.push({ answer: () => { d.resolve({ ...this.placement }) } })
    return await d.promise
  }
}

function rig (): { clock: ManualClock, store: FakeStore, docs: FakeDocs, lease: NodeLease, local: LocalAgents, guard: LeaseGuard, stop: () => Promise<void> } {
  const clock = new ManualClock(1_000_000)
  const store = new FakeStore()
  const docs = new FakeDocs()
  const lease = new NodeLease({ kv: store.kv, clock, log })
  let guard: LeaseGuard | undefined
  const local: LocalAgents = new LocalAgents({
    nodeId: 'me',
    kinds: [counter, gated],
    capacity: { cpu: 4, memoryMb: 1024 },
    services: {} as AgentServices,
    llm: {} as LlmClient,
    docs,
    writeConcern: () => 1,
    healthy: () => true,
    authority: {
      mayServe: async (signal) => await guard!.mayServe(signal),
      admitTurn: async (signal) => await guard!.admitTurn(signal),
      term: () => guard!.term(),
      onLapse: (l) => guard!.onLapse(l),
      leaseValid: () => guard!.leaseValid(),
      untilLeaseValid: async (signal) => { await guard!.untilLeaseValid(signal) },
      why: () => guard!.why(),
      read: async () => await store.read()
    },
    clock,
    log
  })
  const manager = {
    peerId: 'me',
    clock,
    lease,
    log,
    local,
    components: {
      network: { setExtension: () => {}, member: () => ({ status: store.cut ? 'suspect' : 'alive' }) },
      consensus: { status: () => ({ voters: ['me', 'v2', 'v3'] }) }
    },
    read: async () => await store.read()
  } as unknown as DistributedAgentManager
  guard = new LeaseGuard(manager, () => {})
  const g = guard
  g.start()
  lease.start()
  return {
    clock, store, docs, lease, local, guard: g,
    stop: async () => { docs.heal(); g.stop(); await lease.stop(); await local.stop() }
  }
}

/** the outcome of a pending promise so far: pending, or what it settled with */
function watch (p: Promise<JsonValue>): { state: () => 'pending' | 'resolved' | 'rejected', value: () => unknown } {
  let state: 'pending' | 'resolved' | 'rejected' = 'pending'
  let value: unknown
  p.then(v => { state = 'resolved'; value = v }, err => { state = 'rejected'; value = err })
  return { state: () => state, value: () => value }
}

async function started (): Promise<ReturnType<typeof rig>> {
  const r = rig()
  await flush()
  assert.equal(r.lease.valid(), true, 'the lease is granted at start')
  await r.local.activate(r.store.placement, { fresh: true })
  return r
}

/** the cut (neither renewals nor the replicas are reached) with a turn begun within the lease, then `ms` pass */
async function cutWithTurnInFlight (r: ReturnType<typeof rig>, ms: number): Promise<ReturnType<typeof watch>> {
  r.store.cut = true
  r.docs.cut = true
  const inc = watch(r.local.deliver('ctr', { op: 'inc' }, { id: 'm1' }))
  await flush()
  r.clock.advance(ms)
  await flush()
  return inc
}

describe('turn fence', () => {
  it('a turn whose write concern outlasts the lease, the agent re-placed meanwhile: NotOwnerError, no reply', async () => {
    const r = await started()
    assert.deepEqual(await r.local.deliver('ctr', { op: 'inc' }, { id: 'm0' }), { value: 1 })
    // the cut, a turn begun within the lease; then past the lease's validity: lapsed
    const inc = await cutWithTurnInFlight(r, 1_900)
    // the leader expired the lease and re-placed the agent; the heal, within the grace
    r.store.placement = { ...r.store.placement, node: 'other', epoch: 40 }
    r.store.expired = true
    r.store.cut = false
    r.docs.heal()
    r.clock.advance(400) // the next renewal: lease lost, a new one granted
    for (let i = 0; i < 50 && inc.state() === 'pending'; i++) {
      for (const read of r.store.reads.splice(0)) read.answer()
      await flush()
    }
    assert.equal(inc.state(), 'rejected', `the turn's reply is not released (got ${JSON.stringify(inc.value())})`)
    const err = inc.value() as Error & { details?: Record<string, unknown> }
    assert.equal(err.name, 'NotOwnerError')
    assert.equal(err.details?.reason, 'superseded', err.message)
    assert.match(err.message, /placed on other under epoch 40/)
    await r.stop()
  })

  it('a lease that lapsed and was renewed with the same placement: the reply is released once, after the placement is read back', async () => {
    const r = await started()
    const inc = await cutWithTurnInFlight(r, 1_900)
    // healed within the grace: the same lease is renewed, nobody else took the agent
    r.store.cut = false
    r.docs.heal()
    r.clock.advance(400)
    for (let i = 0; i < 20 && r.store.reads.length === 0; i++) await flush()
    assert.equal(r.store.reads.length, 1, 'the placement is read back before the reply goes out')
    assert.equal(inc.state(), 'pending', 'nothing is released while the placement is being read back')
    r.store.reads.splice(0)[0].answer()
    for (let i = 0; i < 20 && inc.state() === 'pending'; i++) await flush()
    assert.deepEqual(inc.value(), { value: 1 }, 'the write stands (same owner, same epoch): its reply goes out, so no caller retries it')
    assert.deepEqual(await r.local.deliver('ctr', { op: 'inc' }, { id: 'm2' }), { value: 2 }, 'applied once')
    await r.stop()
  })

  it('a cut-off owner refuses requests at once, saying why, and a queued message without running it; its retry after the heal runs once', async () => {
    const r = await started()
    gate = deferred<void>()
    await r.local.activate({ ...r.store.placement, id: 'g', kind: 'gated' }, { fresh: true })
    // a turn is running; a message queues behind it
    const held = watch(r.local.deliver('g', { op: 'hold' }, { id: 'h1' }))
    const queued = watch(r.local.deliver('g', { op: 'inc' }, { id: 'm2' }))
    await flush()
    // the cut: renewals fail, the failure detector has the voters suspect
    r.store.cut = true
    r.docs.cut = true
    r.clock.advance(1_900) // lapsed
    await flush()
    const late = watch(r.local.deliver('ctr', { op: 'inc' }, { id: 'm3' }))
    await flush()
    assert.equal(late.state(), 'rejected', 'refused at once, not after the grace (no clock advance)')
    assert.equal((late.value() as Error).name, 'NotOwnerError')
    assert.match((late.value() as Error).message, /node lease lapsed \d+ ms ago: no renewal has reached the Raft majority since; it hears from 1 of 3 voters/)
    // the running turn ends; the queued one would start with the lease lapsed: refused, not run
    gate.resolve()
    for (let i = 0; i < 20 && queued.state() === 'pending'; i++) await flush()
    assert.equal(held.state(), 'rejected')
    assert.equal(queued.state(), 'rejected', 'the queued message is refused without waiting')
    assert.equal((queued.value() as Error).name, 'NotOwnerError')
    assert.deepEqual(r.local.stateOf('g'), {}, 'it never ran')
    assert.deepEqual(r.local.stateOf('ctr'), {}, 'nor did the refused request')
    // healed with the same placement: the refused message id is not remembered as refused
    r.store.cut = false
    r.docs.heal()
    r.clock.advance(400)
    await flush()
    assert.equal(r.lease.valid(), true)
    assert.deepEqual(await r.local.deliver('g', { op: 'inc' }, { id: 'm2' }), { value: 1 }, 'its retry runs')
    assert.deepEqual(await r.local.deliver('g', { op: 'inc' }, { id: 'm2' }), { value: 1 }, 'once')
    await r.stop()
  })

  it('a turn in flight on a cut-off owner is neither refused nor released until the lease is back and the placement read back', async () => {
    const r = await started()
    const inc = await cutWithTurnInFlight(r, 5_000) // cut off for well past the grace
    assert.equal(inc.state(), 'pending', 'no NotOwnerError (the broker would re-send it as a new message; its write may stand)')
    r.store.cut = false
    r.docs.heal()
    r.clock.advance(400)
    for (let i = 0; i < 20 && r.store.reads.length === 0; i++) await flush()
    assert.equal(r.store.reads.length, 1, 'the placement is read back first')
    assert.equal(inc.state(), 'pending')
    r.store.reads.splice(0)[0].answer()
    for (let i = 0; i < 20 && inc.state() === 'pending'; i++) await flush()
    assert.deepEqual(inc.value(), { value: 1 })
    assert.deepEqual(await r.local.deliver('ctr', { op: 'inc' }, { id: 'm2' }), { value: 2 }, 'applied once')
    await r.stop()
  })
})
