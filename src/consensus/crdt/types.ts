/**
 * The narrow boundary the replicated documents are built on. `DocTransport` is what the
 * replicator needs from the network: gossip topics, framed duplex streams and the peer set.
 * Implementations: libp2p (gossipsub + streams, `libp2p-transport.ts`) and an in-process
 * simulated network for tests (`sim-transport.ts`).
 */
import type { AbortOptions } from '../../util/abort.ts'

export type PeerId = string

/** A duplex of byte frames. Each frame sent is received whole, in order, or the stream fails. */
export interface DocStream {
  /**
   * the largest frame this stream carries, both ways: MAX_FRAME_BYTES (16 KiB) on a channel that
   * delivers frames as single WebRTC-sized messages; larger where the transport splits writes itself
   */
  readonly maxFrameBytes: number
  /**
   * sends one frame (at most maxFrameBytes), whole or as consecutive parts that are sent without
   * being joined; resolves once the transport took it (backpressure)
   */
  send: (frame: Uint8Array | readonly Uint8Array[], options?: AbortOptions) => Promise<void>
  /** the frames from the other side; ends when the other side closed, throws when the stream failed */
  [Symbol.asyncIterator]: () => AsyncIterator<Uint8Array>
  /** closes our sending side; the other side's iteration ends after the frames already sent */
  close: (options?: AbortOptions) => Promise<void>
  /** tears the stream down at once, both ways */
  abort: (err: Error) => void
}

export interface PeerEvent {
  type: 'join' | 'leave'
  peer: PeerId
}

export interface DocTransport {
  /** this peer */
  readonly peerId: PeerId
  /** best effort: may reach no one; rejects only on local failure */
  publish: (topic: string, data: Uint8Array, options?: AbortOptions) => Promise<void>
  /** handler gets every message published on `topic` by another peer; returns unsubscribe */
  subscribe: (topic: string, handler: (data: Uint8Array, from: PeerId) => void) => () => void
  /** rejects with UnreachableError when the peer cannot be reached */
  openStream: (peer: PeerId, protocol: string, options?: AbortOptions) => Promise<DocStream>
  /** handler gets every inbound stream for `protocol`; returns unhandle */
  handle: (protocol: string, handler: (stream: DocStream, from: PeerId) => void) => () => void
  /** peers currently connected */
  peers: () => PeerId[]
  /** peer join/leave notifications; returns the function that removes the listener */
  onPeer: (listener: (event: PeerEvent) => void) => () => void
}

/**
 * Who may change which document (membership credentials; see src/security/doc-gate.ts). Updates
 * a peer the gate does not allow sends (gossip, or sync content this peer lacks) are refused with
 * UnauthorizedError and a log line, the doc unchanged; such a peer may still read, and cannot make
 * this peer hold a doc for it.
 */
export interface DocWriteGate {
  /** may `peer` change `docId` now */
  allows: (peer: PeerId, docId: string) => boolean
  /** records (log line + metric) that `peer` was refused `what` on `docId` */
  refuse: (peer: PeerId, docId: string, what: string) => void
}

/** picks `count` holders for a document among the candidates (connected peers, self excluded) */
export type SelectReplicas = (docId: string, candidates: PeerId[], count: number) => PeerId[]

/** one write of a key that was concurrent with another (neither writer had seen the other) */
export interface ConflictCandidate {
  value: unknown
  /** hybrid logical clock timestamp of the write, as its sortable string */
  hlc: string
  peer: PeerId
}

export interface Conflict {
  id: string
  docId: string
  /** the key-value map (its name) and the key written concurrently */
  map: string
  key: string
  candidates: ConflictCandidate[]
  /** hlc of the detection */
  detectedAt: string
}

export interface ConflictOutcome {
  conflictId: string
  docId: string
  map: string
  key: string
  /** 'lww' or 'custom' */
  policy: string
  /** the value the key now holds everywhere (undefined: deleted) */
  value: unknown
  /** the winning write for lww; undefined when a custom resolver produced a new value */
  winner?: ConflictCandidate
}

/**
 * How concurrent writes of non-CRDT values resolve:
 * - 'crdt': the CRDT's own deterministic merge; no conflicts are recorded (default)
 * - 'lww': last writer by hybrid logical clock wins; concurrent writes are recorded as conflicts
 * - custom: like 'lww' until handled; `handleConflict` writes the resolver's value
 */
export type ConflictPolicy =
  | 'crdt'
  | 'lww'
  | { name?: string, resolve: (conflict: Conflict) => unknown }

export interface ReplicateOptions extends AbortOptions {
  /** holders besides this peer (default DEFAULT_REPLICAS) */
  replicas?: number
  /** placement hook for this doc (default: the replicator's, rendezvous hashing) */
  selectReplicas?: SelectReplicas
  /** conflict policy for this doc's key-value maps (default 'crdt') */
  conflictPolicy?: ConflictPolicy
  /**
   * catch up before resolving: run the sync exchange with these peers (e.g. the previous owner and
   * replicas of a migrating agent) and with the holders this peer selects. Rejects with
   * UnreachableError when peers were named here and none of them could be synced with.
   */
  syncFrom?: PeerId[]
  /** catch up from the selected holders before resolving (implied by syncFrom) */
  awaitSync?: boolean
  /**
   * with syncFrom: how many of the named peers the catch-up must reach (default 1). A named peer
   * that does not hold the doc counts as reached: it holds none of it. Rejects with
   * UnreachableError when fewer answered (a read quorum over a doc's replica set)
   */
  syncQuorum?: number
}

export interface FlushOptions extends AbortOptions {
  /** other holders that must have persisted every update this peer has (default 1) */
  minReplicas?: number
  /** only these holders count towards minReplicas (default: any holder) */
  among?: readonly PeerId[]
}

export interface HolderInfo {
  peer: PeerId
  /** the holder's last acknowledged persisted state vector, client -> clock */
  acked: Map<number, number>
  lastSeen: number
  /** what the holder said it is for the doc (undefined: it did not say) */
  role?: 'member' | 'replica'
}
