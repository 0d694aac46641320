/**
 * Placement records and this peer's cache of them.
 *
 * The truth is the Raft KV store: `agents/<id>` -> `{id, kind, node, epoch, config, status}`,
 * written only with a compare-and-swap on the key's revision and fenced by the epoch (a Raft
 * commit index: a write carrying an older epoch is refused with StaleEpochError). The cache
 * serves the broker's resolver without a Raft round per message; it learns of changes from the
 * writer's notice on the placements topic (a hint, kept only if its epoch is newer) and from
 * linearizable reads, and wakes whoever waits for an agent to move.
 */
import { InvalidMessageError, MessageTooLargeError } from '../errors.ts'
import type { AbortOptions } from '../util/abort.ts'
import { raceSignal } from '../util/abort.ts'
import { MAX_PLACEMENT_BYTES, MAX_STATE_REPLICAS, PLACEMENT_PREFIX } from './constants.ts'
import { validateAgentId, validateKindName } from './define.ts'
import type { JsonObject } from './types.ts'

/**
 * `quarantined`: its activation kept failing (handleAgentFailure) and it takes no messages until
 * redeployed. A move (migration or recovery) is not a status: the lease changes hands under a new
 * epoch in one committed write, so a placement is never half-moved.
 */
export type PlacementStatus = 'active' | 'quarantined'
const STATUSES = new Set<string>(['active', 'quarantined'])

/** where an agent runs and under which epoch */
export interface Placement {
  id: string
  kind: string
  node: string
  epoch: number
  config: JsonObject
  status: PlacementStatus
  /**
   * placed on a named peer by an operator (deployAgent with `node`, migrateAgent): the rebalancer
   * leaves it there (failures and hidden tabs still move it, and the move unpins it)
   */
  pinned?: boolean
  /**
   * the peers besides the owner that hold its acknowledged state under this record (the replica
   * set R of its state docs): every acknowledged turn is on `acks` of them, so the next owner
   * catches up from |R| - acks + 1 of them before it fences (state-replicas.ts). Absent on records
   * written before replica sets were recorded, and before the first activation
   */
  replicas?: string[]
  /** how many of `replicas` hold each acknowledged turn (the write concern the owner counts over them) */
  acks?: number
  /** the KV revision of the record (set when read from the store) */
  revision?: number
}

export const placementKey = (agentId: string): string => `${PLACEMENT_PREFIX}${agentId}`

function isObject (x: unknown): x is Record<string, unknown> {
  return x !== null && typeof x === 'object' && !Array.isArray(x)
}

/** checks a placement read from the store or the network; InvalidMessageError if malformed */
export function decodePlacement (value: unknown, revision?: number): Placement {
  if (!isObject(value)) throw new InvalidMessageError('placement record must be an object')
  const size = JSON.stringify(value).length
  if (size > MAX_PLACEMENT_BYTES) throw new MessageTooLargeError(`placement record of ${size} bytes exceeds ${MAX_PLACEMENT_BYTES}`)
  const { id, kind, node, epoch, config, status, pinned, replicas, acks } = value
  if (typeof id !== 'string' || typeof kind !== 'string' || typeof node !== 'string' || node.length === 0 || node.length > 256) {
    throw new InvalidMessageError('placement record needs string id, kind and node')
  }
  try {
    validateAgentId(id)
    validateKindName(kind)
  } catch (err) {
    throw new InvalidMessageError(`placement record: ${(err as Error).message}`)
  }
  if (typeof epoch !== 'number' || !Number.isSafeInteger(epoch) || epoch < 0) throw new InvalidMessageError('placement epoch must be a non-negative integer')
  if (!isObject(config)) throw new InvalidMessageError('placement config must be an object')
  if (typeof status !== 'string' || !STATUSES.has(status)) throw new InvalidMessageError(`placement status ${String(status)} is unknown`)
  if (pinned != null && typeof pinned !== 'boolean') throw new InvalidMessageError('placement pinned must be a boolean')
  if (replicas != null && (!Array.isArray(replicas) || replicas.length > MAX_STATE_REPLICAS ||
    !replicas.every(r => typeof r === 'string' && r.length > 0 && r.length <= 256) || new Set(replicas).size !== replicas.length)) {
    throw new InvalidMessageError(`placement replicas must be at most ${MAX_STATE_REPLICAS} distinct peer ids`)
  }
  if ((replicas == null) !== (acks == null)) throw new InvalidMessageError('placement replicas and acks go together')
  if (acks != null && (typeof acks !== 'number' || !Number.isSafeInteger(acks) || acks < 0 || acks > MAX_STATE_REPLICAS)) {
    throw new InvalidMessageError(`placement acks must be an integer from 0 to ${MAX_STATE_REPLICAS}`)
  }
  return {
    id, kind, node, epoch, config: config as JsonObject, status: status as PlacementStatus,
    ...(pinned === true ? { pinned } : {}),
    ...(replicas != null ? { replicas: replicas as string[], acks: acks as number } : {}),
    ...(revision != null ? { revision } : {})
  }
}

/** the record as stored (no revision: that is the store's) */
export function encodePlacement (p: Placement): JsonObject {
  return {
    id: p.id, kind: p.kind, node: p.node, epoch: p.epoch, config: p.config, status: p.status,
    ...(p.pinned === true ? { pinned: true } : {}),
    ...(p.replicas != null && p.acks != null ? { replicas: p.replicas, acks: p.acks } : {})
  }
}

/** `p` moved to `node`: pinned there when an operator named it, unpinned otherwise */
export function placedOn (p: Placement, node: string, epoch: number, pin: boolean): Placement {
  const { pinned: _pinned, ...rest } = p
  return { ...rest, node, epoch, status: 'active', ...(pin ? { pinned: true } : {}) }
}

type Waiter = (p: Placement | undefined) => void

export class PlacementCache {
  private readonly entries = new Map<string, Placement>()
  private readonly waiters = new Map<string, Set<Waiter>>()

  get (agentId: string): Placement | undefined {
    return this.entries.get(agentId)
  }

  list (): Placement[] {
    return [...this.entries.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
  }

  /** keeps `p` if it is at least as new as what is cached; true when it changed the cache */
  offer (p: Placement): boolean {
    const known = this.entries.get(p.id)
    if (known != null && (known.epoch > p.epoch || (known.epoch === p.epoch && (known.revision ?? 0) > (p.revision ?? 0)))) return false
    if (known != null && known.epoch === p.epoch && known.node === p.node && known.status === p.status && known.revision === p.revision) return false
    this.entries.set(p.id, p)
    this.wake(p.id, p)
    return true
  }

  /** the agent was removed (or is unknown to the store) */
  forget (agentId: string): void {
    if (!this.entries.delete(agentId)) return
    this.wake(agentId, undefined)
  }

  /** replaces the whole cache with a full read of the store */
  replaceAll (placements: Placement[]): void {
    const seen = new Set<string>()
    for (const p of placements) { seen.add(p.id); this.offer(p) }
    for (const id of [...this.entries.keys()]) if (!seen.has(id)) this.forget(id)
  }

  /** resolves with the next change of `agentId`'s entry (or at the signal, with AbortError/TimeoutError) */
  async nextChange (agentId: string, options: AbortOptions = {}): Promise<Placement | undefined> {
    let waiter: Waiter | undefined
    const changed = new Promise<Placement | undefined>(resolve => { waiter = resolve })
    let set = this.waiters.get(agentId)
    if (set == null) { set = new Set(); this.waiters.set(agentId, set) }
    set.add(waiter!)
    try {
      return await raceSignal(changed, options.signal)
    } finally {
      set.delete(waiter!)
      if (set.size === 0) this.waiters.delete(agentId)
    }
  }

  private wake (agentId: string, p: Placement | undefined): void {
    const set = this.waiters.get(agentId)
    if (set == null) return
    for (const w of [...set]) w(p)
  }
}
