/**
 * Placement records in the Raft KV store (`agents/<id>`): read linearizably, replaced only by a
 * compare-and-swap on the record's revision and fenced by the new epoch (a write under an older
 * epoch is refused with StaleEpochError), announced on the placements topic for every peer's
 * routing cache. Every placement read or written is handed to `learn`.
 */
import { ConflictError, NotOwnerError, describeError } from '../errors.ts'
import type { AbortOptions } from '../util/abort.ts'
import type { Logger } from '../util/logger.ts'
import { PLACEMENT_PREFIX, PLACEMENT_RANGE_LIMIT, PLACEMENT_TOPIC } from './constants.ts'
import { decodePlacement, encodePlacement, placementKey } from './directory.ts'
import type { Placement, PlacementCache } from './directory.ts'
import type { ManagerBroker, ManagerKv } from './manager-types.ts'
import type { JsonObject } from './types.ts'
import { sameSet } from './state-replicas.ts'
import type { ReplicaSet } from './state-replicas.ts'

export interface PlacementRecordsInit {
  kv: ManagerKv
  broker: Pick<ManagerBroker, 'publishMessage'>
  cache: PlacementCache
  log: Logger
  /** a placement read back from the store or written to it */
  learn: (p: Placement) => void
}

export class PlacementRecords {
  private readonly init: PlacementRecordsInit

  constructor (init: PlacementRecordsInit) {
    this.init = init
  }

  /** every placement (linearizable); the routing cache is replaced by them. A record that does not decode is logged and left out */
  async list (options: AbortOptions = {}): Promise<Placement[]> {
    const r = await this.init.kv.range(PLACEMENT_PREFIX, { limit: PLACEMENT_RANGE_LIMIT, ...options })
    const out: Placement[] = []
    for (const kv of r.kvs) {
      try { out.push(decodePlacement(kv.value, kv.revision)) } catch (err) { this.init.log.error('bad placement record %s: %s', kv.key, describeError(err).message) }
    }
    this.init.cache.replaceAll(out)
    return out
  }

  /** the placement (linearizable); undefined when there is none */
  async read (agentId: string, options: AbortOptions = {}): Promise<Placement | undefined> {
    const kv = await this.init.kv.get(placementKey(agentId), options)
    if (kv == null) { this.init.cache.forget(agentId); return undefined }
    const p = decodePlacement(kv.value, kv.revision)
    this.init.learn(p)
    return p
  }

  /** compare-and-swap on `prev`'s revision (or creation), fenced by `next.epoch`; ConflictError if it changed meanwhile */
  async write (prev: Placement | undefined, next: Placement, options: AbortOptions = {}): Promise<Placement> {
    const key = placementKey(next.id)
    const r = await this.init.kv.txn({
      compare: [prev == null ? { key, target: 'createRevision', op: '==', value: 0 } : { key, target: 'modRevision', op: '==', value: prev.revision ?? 0 }],
      success: [{ type: 'put', key, value: encodePlacement(next) }],
      failure: [{ type: 'get', key }]
    }, { ...options, fence: { key, token: next.epoch } })
    if (!r.succeeded) {
      const cur = r.responses[0]
      if (cur?.type === 'get' && cur.kv != null) this.init.learn(decodePlacement(cur.kv.value, cur.kv.revision))
      throw new ConflictError(prev == null ? `agent ${next.id} exists` : `agent ${next.id} was changed meanwhile`)
    }
    const written = { ...next, revision: r.revision }
    this.init.learn(written)
    this.announce(written)
    return written
  }

  /**
   * `p` as the store has it now, when nothing but its replica set changed since (an activation
   * that failed after it recorded one); ConflictError otherwise. For a retry's compare-and-swap
   */
  async refreshed (p: Placement, options: AbortOptions = {}): Promise<Placement> {
    const cur = await this.read(p.id, options)
    if (cur == null || cur.node !== p.node || cur.epoch !== p.epoch || cur.status !== p.status) {
      throw new ConflictError(`agent ${p.id} was changed meanwhile${cur == null ? ' (removed)' : ` (${cur.node}, epoch ${cur.epoch})`}`)
    }
    return cur
  }

  /**
   * records the replica set of an agent's state in its placement, if it is still `owner`'s under
   * `epoch` (NotOwnerError otherwise; ConflictError if the record changed meanwhile)
   */
  async recordReplicaSet (agentId: string, owner: string, epoch: number, set: ReplicaSet, options: AbortOptions = {}): Promise<void> {
    const p = await this.read(agentId, options)
    if (p == null || p.node !== owner || p.epoch !== epoch) {
      throw new NotOwnerError(`agent ${agentId} is no longer placed on ${owner} under epoch ${epoch}${p == null ? '' : ` (${p.node}, epoch ${p.epoch})`}`)
    }
    if (sameSet(p.replicas != null && p.acks != null ? { replicas: p.replicas, acks: p.acks } : undefined, set)) return
    await this.write(p, { ...p, replicas: set.replicas, acks: set.acks }, options)
  }

  /** deletes the record if it is still at `p`'s revision */
  async delete (p: Placement, options: AbortOptions = {}): Promise<void> {
    const key = placementKey(p.id)
    await this.init.kv.txn({
      compare: [{ key, target: 'modRevision', op: '==', value: p.revision ?? 0 }],
      success: [{ type: 'delete', key }]
    }, options)
    this.init.cache.forget(p.id)
  }

  /** tells every peer's routing cache (best effort) */
  announce (p: Placement): void {
    this.init.broker.publishMessage(PLACEMENT_TOPIC, encodePlacement(p) as unknown as JsonObject).catch((err: unknown) => {
      this.init.log('placement notice for %s not published: %s', p.id, describeError(err).message)
    })
  }
}
