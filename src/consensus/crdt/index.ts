/**
 * Replicated Yjs documents: the contract of src/consensus/crdt. `createDocReplicator` over a
 * `DocTransport` (libp2p or simulated), a Store and Telemetry; `replicateState(id)` gives the
 * shared Y.Doc, `flush` waits for a write concern, `keyValue` gives a compact map over a doc,
 * `handleConflict` resolves what a last-writer-wins map recorded.
 */
export type {
  DocStream, DocTransport, DocWriteGate, PeerEvent, PeerId, SelectReplicas, Conflict, ConflictCandidate,
  ConflictOutcome, ConflictPolicy, ReplicateOptions, FlushOptions, HolderInfo
} from './types.ts'
export { DocReplicator, createDocReplicator } from './replicator.ts'
export type { DocReplicatorComponents, DocReplicatorInit, DocReplicatorEvents } from './replicator.ts'
export { YKeyValue } from './key-value.ts'
export type { KvEntry, KvRetention, StoredKvEntry, YKeyValueInit } from './key-value.ts'
export { encodeKvEntry, decodeKvEntry } from './kv-entry.ts'
export { successorOf, RETIREMENT_MAP } from './retirement.ts'
export { fenceDoc, readFences, FenceSet, FENCE_MAP } from './fences.ts'
export type { Fence } from './fences.ts'
export { HybridLogicalClock, compareHlc, compareHlcText, formatHlc, parseHlc } from '../../util/hlc.ts'
export type { HlcTimestamp, PeerHlcTimestamp } from '../../util/hlc.ts'
export { selectReplicasByHash, stableHash } from './placement.ts'
export { SimNetwork } from './sim-transport.ts'
export type { SimNetworkInit, SimStats } from './sim-transport.ts'
export { RemoteOrigin, STORE_ORIGIN } from './replicated-doc.ts'
export { SYNC_PROTOCOL, MAX_FRAME_BYTES, LIBP2P_MAX_FRAME_BYTES, DEFAULT_REPLICAS } from './constants.ts'
export type { ConflictResolver } from './policy.ts'
export { Libp2pDocTransport, Libp2pDocStream, libp2pDocTransport } from './libp2p-transport.ts'
export type { Libp2pWithPubsub, Libp2pDocTransportInit } from './libp2p-transport.ts'
