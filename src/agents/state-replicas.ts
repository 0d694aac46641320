/**
 * The replica set of an agent's state docs, recorded in its placement (Raft), so that a failover
 * never takes over less than was acknowledged.
 *
 * The set S names the peers holding the acknowledged state, the owner that recorded it included,
 * and `acks`: how many of them hold each acknowledged turn (the owner counts; the write concern is
 * acks - 1 other members). A turn's reply waits for that many members of S, no other holder
 * counts. A new owner catches up from |S| - acks + 1 members (itself included when it is one) before
 * it fences the docs, so the two sets always meet: whatever was acknowledged is taken over. When
 * fewer are reachable the activation fails with UnreachableError and is retried: the agent waits
 * for the heal instead of going on without acknowledged turns (a minority side cut off with the
 * owner and its acknowledging holders keeps them).
 *
 * A set changes only once its successor holds everything: the owner brings its state to the
 * write concern among the new members, then records the new set (a compare-and-swap on the
 * placement under its epoch), then counts over it. Meanwhile the replicator keeps both sets as
 * holders (a member of the old set is never told to drop the docs before the new set is recorded),
 * and a reply whose flush finished during the switch is counted again over the new set.
 * An owner adopts a new set at activation (its own: itself and the holders it picks among healthy
 * peers) and during its epoch when too few members of its set are healthy to reach the write
 * concern. It never adopts one with fewer members than the write concern: it keeps the old one.
 */
import { UnreachableError } from '../errors.ts'
import type { AbortOptions } from '../util/abort.ts'
import type { Logger } from '../util/logger.ts'
import { selectReplicasByHash, type SelectReplicas } from '../consensus/crdt/index.ts'
import type * as Y from 'yjs'

export interface ReplicaSet {
  /** the peers holding the acknowledged state, the owner that recorded the set included */
  replicas: string[]
  /** members holding each acknowledged turn (the owner counts) */
  acks: number
}

/** the members of `set` a new owner `self` must catch up from, and how many of them at least */
export function readQuorum (set: ReplicaSet, self: string): { peers: string[], needed: number } {
  const peers = set.replicas.filter(p => p !== self)
  const needed = Math.max(0, set.replicas.length - set.acks + 1 - (peers.length < set.replicas.length ? 1 : 0))
  return { peers, needed }
}

export function sameSet (a: ReplicaSet | undefined, b: ReplicaSet | undefined): boolean {
  if (a == null || b == null) return a === b
  return a.acks === b.acks && a.replicas.length === b.replicas.length && a.replicas.every(p => b.replicas.includes(p))
}

/** what the replica sets need from the CRDT layer (DocReplicator fits) */
export interface ReplicaDocs {
  /** peers reachable now */
  peers: () => string[]
  /** holders besides this peer the doc is placed on */
  replicasOf: (doc: Y.Doc | string) => number
  flush: (doc: Y.Doc | string, options?: AbortOptions & { minReplicas?: number, among?: readonly string[] }) => Promise<void>
}

export interface StateReplicaSetsInit {
  self: string
  docs: ReplicaDocs
  /** a peer the membership does not consider failed or suspect */
  healthy: (peer: string) => boolean
  /**
   * a peer the membership declared failed, or no longer knows: an owner adopts a new set when too
   * many members are lost for the write concern (a suspect member is waited for). Default: not healthy
   */
  lost?: (peer: string) => boolean
  /** other peers that must hold a turn's changes (the configured write concern, as the mesh allows) */
  writeConcern: () => number
  /** records the set in the agent's placement, if it is still this peer's under `epoch` (compare-and-swap) */
  record: (agentId: string, epoch: number, set: ReplicaSet, options: AbortOptions) => Promise<void>
  log: Logger
}


/** one agent's set, as its owner (or a peer activating it) sees it */
export class AgentReplicas {
  /** the set recorded last (undefined: none recorded yet, or a record from before sets) */
  set: ReplicaSet | undefined
  /** members of a set being adopted: held (recruited) beside the recorded ones until it is recorded */
  private pending: string[] = []
  private switching: Promise<void> | undefined
  /** the agent's docs now (root and generation); set once they are open */
  private current: () => Array<Y.Doc | string> = () => []
  /** the last set kept for want of healthy peers (logged once) */
  private kept: ReplicaSet | undefined

  constructor (private readonly init: StateReplicaSetsInit, readonly agentId: string, readonly rootId: string, readonly epoch: number, recorded: ReplicaSet | undefined) {
    this.set = recorded
  }

  /** the agent's docs (root and current generation), read at each adoption */
  bind (current: () => Array<Y.Doc | string>): void {
    this.current = current
  }

  /**
   * the replicator's placement hook for the agent's docs: the members of the recorded set (and of
   * one being adopted) while there is one, so none of them is ever told to drop the docs; before
   * that, rendezvous hashing over the healthy peers
   */
  readonly selectReplicas: SelectReplicas = (_docId, candidates, count) => {
    if (this.set == null) return selectReplicasByHash(this.rootId, candidates.filter(this.init.healthy), count)
    const members = new Set([...this.set.replicas, ...this.pending])
    return candidates.filter(p => members.has(p))
  }

  /**
   * the catch-up an activation must make before it fences: a read quorum of the recorded set,
   * from its healthy members (undefined: none recorded, or this peer's own copy is quorum enough;
   * the replicator's own catch-up applies). UnreachableError at once when fewer members than that
   * are healthy
   */
  catchUp (): { syncFrom: string[], syncQuorum: number } | undefined {
    if (this.set == null) return undefined
    const { peers, needed } = readQuorum(this.set, this.init.self)
    if (needed === 0) return undefined
    const up = peers.filter(this.init.healthy)
    if (up.length < needed) {
      throw new UnreachableError(`agent ${this.agentId}: its state is acknowledged on ${this.set.acks} of ${this.set.replicas.join(', ')}; ` +
        `catching up needs ${needed} of ${peers.join(', ')} and ${up.length} ${up.length === 1 ? 'is' : 'are'} reachable`, { details: { agentId: this.agentId, replicas: this.set.replicas, acks: this.set.acks } })
    }
    // only the healthy members: a sync with a failed one would hold the activation up until its timeout
    return { syncFrom: up, syncQuorum: needed }
  }

  /**
   * waits until `docs` (as they are now) are held by the write concern: `acks` - 1 other members
   * of the recorded set (any holders while none is recorded). When too many members are lost, a
   * new set is adopted first; a flush that finishes while one is adopted is counted again over it
   */
  async flush (docs: Array<Y.Doc | string>, options: AbortOptions = {}): Promise<void> {
    const signal = options.signal != null ? { signal: options.signal } : {}
    for (;;) {
      if (this.set != null && this.tooFewLeft(this.set)) await this.adopt(options)
      const set = this.set
      for (const doc of docs) await this.init.docs.flush(doc, { ...signal, ...this.concern(set) })
      if (this.switching == null && this.set === set) return
      await this.switching?.catch(() => {})
    }
  }

  /**
   * adopts this owner's own set: itself and the holders it picks among healthy peers, once its
   * docs are at the write concern among them; recorded before it counts. Keeps the recorded set
   * when too few healthy peers are around for the write concern
   */
  async adopt (options: AbortOptions = {}): Promise<void> {
    while (this.switching != null) await this.switching.catch(() => {})
    const job = this.adoptNow(options)
    this.switching = job
    try {
      await job
    } finally {
      this.switching = undefined
      this.pending = []
    }
  }

  private async adoptNow (options: AbortOptions): Promise<void> {
    const { init } = this
    const docs = this.current()
    if (docs.length === 0) return
    const wanted = init.writeConcern()
    const count = Math.max(wanted, init.docs.replicasOf(docs[0]))
    const others = selectReplicasByHash(this.rootId, init.docs.peers().filter(p => p !== init.self && init.healthy(p)), count)
    if (others.length < wanted && this.set != null) {
      if (this.kept !== this.set) init.log('agent %s: keeps its state replicas %s: %d healthy peers around, the write concern is %d', this.agentId, this.set.replicas.join(', '), others.length, wanted)
      this.kept = this.set
      return
    }
    const next: ReplicaSet = { replicas: [init.self, ...others], acks: wanted + 1 }
    if (sameSet(next, this.set)) return
    this.pending = others
    const signal = options.signal != null ? { signal: options.signal } : {}
    // everything acknowledged so far (and this owner's fence) on the write concern of the new set first
    const reach = Math.min(wanted, others.length)
    for (const doc of docs) await init.docs.flush(doc, { ...signal, minReplicas: reach, among: others })
    await init.record(this.agentId, this.epoch, next, signal)
    init.log('agent %s: state replicas %s (acknowledged on %d) under epoch %d', this.agentId, next.replicas.join(', '), next.acks, this.epoch)
    this.set = next
  }

  private concern (set: ReplicaSet | undefined): { minReplicas: number, among?: string[] } {
    const { init } = this
    if (set == null) return { minReplicas: init.writeConcern() }
    const others = set.replicas.filter(p => p !== init.self)
    return { minReplicas: set.acks - (others.length < set.replicas.length ? 1 : 0), among: others }
  }

  private tooFewLeft (set: ReplicaSet): boolean {
    const { minReplicas, among } = this.concern(set)
    const lost = this.init.lost ?? ((p: string) => !this.init.healthy(p))
    return minReplicas > 0 && (among ?? []).filter(p => !lost(p)).length < minReplicas
  }
}
