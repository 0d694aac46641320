/** What a DocReplicator is built from: its components and its settings, with their defaults. */
import type { Clock } from '../../util/clock.ts'
import type { ComponentLogger } from '../../util/logger.ts'
import type { Rng } from '../../util/prng.ts'
import type { Store } from '../../storage/types.ts'
import type { Telemetry } from '../../monitoring/types.ts'
import * as C from './constants.ts'
import { selectReplicasByHash } from './placement.ts'
import type { ConflictResolver } from './policy.ts'
import type { DocTransport, DocWriteGate, SelectReplicas } from './types.ts'

export interface DocReplicatorComponents {
  transport: DocTransport
  /** where every held doc's update log lives; without one nothing is persisted and no acks are sent */
  store?: Store
  telemetry?: Telemetry
  clock?: Clock
  rng?: Rng
  logger?: ComponentLogger
  /** membership credentials: who may change which doc (default: everyone) */
  writeGate?: DocWriteGate
}

export interface DocReplicatorInit {
  /** mesh namespace, part of every topic (default 'default') */
  mesh?: string
  /** default holders besides the asking peer (DEFAULT_REPLICAS) */
  replicas?: number
  /** default placement hook (rendezvous hashing) */
  selectReplicas?: SelectReplicas
  /**
   * resolvers of custom conflict policies by name: a doc stored under policy `{ name, resolve }`
   * gets its resolver back from here after a restart (or from the next replicateState naming it)
   */
  conflictResolvers?: Record<string, ConflictResolver>
  antiEntropyIntervalMs?: number
  syncCooldownMs?: number
  syncTimeoutMs?: number
  maxDocs?: number
  maxUpdateBytes?: number
  maxDocBytes?: number
  maxGossipBytes?: number
  compactAfterUpdates?: number
  compactAfterBytes?: number
}

export type ResolvedInit = Required<Omit<DocReplicatorInit, 'conflictResolvers'>>

export function resolveInit (init: DocReplicatorInit): ResolvedInit {
  return {
    mesh: init.mesh ?? 'default',
    replicas: init.replicas ?? C.DEFAULT_REPLICAS,
    selectReplicas: init.selectReplicas ?? selectReplicasByHash,
    antiEntropyIntervalMs: init.antiEntropyIntervalMs ?? C.ANTI_ENTROPY_INTERVAL_MS,
    syncCooldownMs: init.syncCooldownMs ?? C.SYNC_COOLDOWN_MS,
    syncTimeoutMs: init.syncTimeoutMs ?? C.SYNC_TIMEOUT_MS,
    maxDocs: init.maxDocs ?? C.MAX_DOCS,
    maxUpdateBytes: init.maxUpdateBytes ?? C.MAX_UPDATE_BYTES,
    maxDocBytes: init.maxDocBytes ?? C.MAX_DOC_BYTES,
    maxGossipBytes: Math.min(init.maxGossipBytes ?? C.MAX_GOSSIP_MESSAGE_BYTES, C.MAX_GOSSIP_MESSAGE_BYTES),
    compactAfterUpdates: init.compactAfterUpdates ?? C.COMPACT_AFTER_UPDATES,
    compactAfterBytes: init.compactAfterBytes ?? C.COMPACT_AFTER_BYTES
  }
}
