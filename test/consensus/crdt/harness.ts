// A cluster of DocReplicators over the simulated network, one ManualClock, seeded randomness.
import { ManualClock } from '../../../src/util/clock.ts'
import { seededRng, type Rng } from '../../../src/util/prng.ts'
import { MemoryStore } from '../../../src/storage/memory.ts'
import type { Store } from '../../../src/storage/types.ts'
import type { Counter, Gauge, GaugeOptions, Histogram, Labels, Telemetry } from '../../../src/monitoring/types.ts'
import type { BatchOp, WriteOptions } from '../../../src/storage/types.ts'
import { prefixedStore } from '../../../src/storage/prefixed.ts'
import { DocReplicator, SimNetwork, type DocReplicatorInit, type DocTransport } from '../../../src/consensus/crdt/index.ts'

export const ANTI_ENTROPY_MS = 1000

export interface PeerHandle {
  id: string
  store: Store
  transport: DocTransport
  replicator: DocReplicator
}

export interface ClusterOptions {
  seed?: number
  dropRate?: number
  init?: DocReplicatorInit
  telemetry?: Telemetry
  storeFor?: (id: string) => Store
}

export class Cluster {
  readonly net: SimNetwork
  readonly clock = new ManualClock(1_700_000_000_000)
  readonly rng: Rng
  readonly peers = new Map<string, PeerHandle>()
  private readonly stores = new Map<string, Store>()

  constructor (private readonly options: ClusterOptions = {}) {
    this.rng = seededRng(options.seed ?? 1)
    this.net = new SimNetwork({ rng: seededRng((options.seed ?? 1) ^ 0x5eed), dropRate: options.dropRate ?? 0 })
  }

  static async create (ids: string[], options: ClusterOptions = {}): Promise<Cluster> {
    const c = new Cluster(options)
    for (const id of ids) await c.start(id)
    await c.settle()
    return c
  }

  /** starts (or restarts, keeping its store) the peer `id` */
  async start (id: string): Promise<PeerHandle> {
    let store = this.stores.get(id)
    if (store == null) {
      store = this.options.storeFor?.(id) ?? new MemoryStore()
      this.stores.set(id, store)
    }
    const transport = this.net.connect(id)
    const replicator = new DocReplicator(
      { transport, store, clock: this.clock, rng: seededRng(this.rng.int(2 ** 31)), telemetry: this.options.telemetry },
      { mesh: 'test', antiEntropyIntervalMs: ANTI_ENTROPY_MS, syncCooldownMs: 200, ...this.options.init }
    )
    await replicator.start()
    const handle = { id, store, transport, replicator }
    this.peers.set(id, handle)
    return handle
  }

  /** stops the peer and takes it off the network; its store survives */
  async stop (id: string): Promise<void> {
    const p = this.peers.get(id)
    if (p == null) return
    this.peers.delete(id)
    this.net.disconnect(id)
    await p.replicator.stop()
  }

  async restart (id: string): Promise<PeerHandle> {
    await this.stop(id)
    return await this.start(id)
  }

  peer (id: string): PeerHandle {
    const p = this.peers.get(id)
    if (p == null) throw new Error(`no running peer ${id}`)
    return p
  }

  async settle (): Promise<void> {
    await this.net.settle()
  }

  /** advances the clock by `ms` in steps, letting the network settle after each */
  async tick (ms: number, step = 100): Promise<void> {
    for (let t = 0; t < ms; t += step) {
      this.clock.advance(Math.min(step, ms - t))
      await this.settle()
    }
  }

  /** ticks anti-entropy rounds until `pred` holds; throws after `rounds` */
  async until (pred: () => boolean, rounds = 30, what = 'condition'): Promise<void> {
    await this.settle()
    for (let i = 0; i < rounds; i++) {
      if (pred()) return
      await this.tick(ANTI_ENTROPY_MS, 250)
    }
    if (!pred()) throw new Error(`${what} not reached after ${rounds} anti-entropy rounds`)
  }

  /** the outcome of `p` while the network settles and the clock moves on in 50 ms steps; throws after 400 steps */
  async settled<T> (p: Promise<T>, what: string): Promise<T> {
    let done = false
    let failed: unknown
    let value: T | undefined
    p.then(v => { value = v; done = true }, err => { failed = err; done = true })
    for (let i = 0; i < 400 && !done; i++) {
      await this.settle()
      if (!done) await this.tick(50, 50)
    }
    if (!done) throw new Error(`${what} did not finish`)
    if (failed !== undefined) throw failed
    return value as T
  }

  async stopAll (): Promise<void> {
    for (const id of [...this.peers.keys()]) await this.stop(id)
  }
}

export { sortedJson, docContent } from './random-edits.ts'

/** a Telemetry that records every value by metric name */
export class RecordingTelemetry implements Telemetry {
  readonly values = new Map<string, number>()
  readonly observations = new Map<string, number[]>()
  private readonly collectors = new Map<string, () => void>()

  readonly metrics = {
    counter: (name: string): Counter => ({
      inc: (v = 1, labels?: Labels) => { this.add(name, v, labels) }
    }),
    gauge: (name: string, options: GaugeOptions): Gauge => {
      const g: Gauge = {
        set: (v, labels) => { this.values.set(key(name, labels), v) },
        inc: (v = 1, labels) => { this.add(name, v, labels) },
        dec: (v = 1, labels) => { this.add(name, -v, labels) }
      }
      if (options.collect != null) this.collectors.set(name, () => options.collect!(g))
      return g
    },
    histogram: (name: string): Histogram => ({
      observe: (v: number) => { this.observe(name, v) },
      startTimer: () => () => { this.observe(name, 0.001); return 0.001 }
    })
  }

  startSpan (): never { throw new Error('not used') }
  registerHealthCheck (): void {}

  collect (): void { for (const c of this.collectors.values()) c() }

  sum (prefix: string): number {
    let s = 0
    for (const [k, v] of this.values) if (k === prefix || k.startsWith(prefix + '{')) s += v
    return s
  }

  private add (name: string, v: number, labels?: Labels): void {
    const k = key(name, labels)
    this.values.set(k, (this.values.get(k) ?? 0) + v)
  }

  private observe (name: string, v: number): void {
    const list = this.observations.get(name) ?? []
    list.push(v)
    this.observations.set(name, list)
  }
}

function key (name: string, labels?: Labels): string {
  return labels == null ? name : `${name}{${Object.entries(labels).map(([k, v]) => `${k}=${v}`).join(',')}}`
}

/** a store whose writes wait while its gate is closed (a slow disk) */
export class GatedStore extends MemoryStore {
  private gate: Promise<void> | undefined
  private openGate: (() => void) | undefined

  close_ (): void { this.gate ??= new Promise(resolve => { this.openGate = resolve }) }
  open_ (): void { this.openGate?.(); this.gate = undefined; this.openGate = undefined }

  override async put (key: string, value: Uint8Array, options?: WriteOptions): Promise<void> {
    await this.gate
    await super.put(key, value)
    void options
  }

  override async batch (ops: BatchOp[], options?: WriteOptions): Promise<void> {
    await this.gate
    await super.batch(ops)
    void options
  }

  override sub (prefix: string): Store { return prefixedStore(this, prefix) }
}
