/**
 * What this peer says about itself in its record: the facts other components set (addresses,
 * capabilities, Raft role, hidden, extensions), the heartbeat interval it promises, and its load
 * (the event-loop lag measured from how late its heartbeats fire).
 */
import { residentMemoryMb } from '#platform/process'
import type { Clock } from '../util/clock.ts'
import { HEARTBEAT_INTERVAL_MS, HIDDEN_HEARTBEAT_INTERVAL_MS } from './constants.ts'
import type { MeshLibp2p } from './libp2p.ts'
import { linksOf } from './topology.ts'
import type { Capabilities, Load, NodeRecord, NodeRole, RaftRole } from './types.ts'

export interface SelfRecordInit {
  mesh: string
  role: NodeRole
  raft?: RaftRole
  capabilities?: Partial<Capabilities>
  version?: string
  heartbeatMs?: number
  loadSource?: () => Partial<Load>
  /** this start's incarnation (incarnation.ts: never below the last start's); default the wall clock now */
  incarnation?: number
}

export class SelfRecord {
  readonly peerId: string
  /** this start of the peer (its start time, above every earlier start's): a higher one is a restart of the same peer */
  readonly incarnation: number
  capabilities: Capabilities
  announcedAddrs: string[] | undefined
  raftRole: RaftRole
  hidden = false
  readonly ext: Record<string, unknown> = {}
  private readonly init: SelfRecordInit
  private readonly libp2p: MeshLibp2p
  private readonly clock: Clock
  private lastBeatAt = 0
  private eventLoopLagMs = 0

  constructor (libp2p: MeshLibp2p, clock: Clock, init: SelfRecordInit) {
    this.libp2p = libp2p
    this.clock = clock
    this.init = init
    this.peerId = libp2p.peerId.toString()
    this.incarnation = init.incarnation ?? clock.now()
    this.raftRole = init.raft ?? 'none'
    this.capabilities = {
      cpu: init.capabilities?.cpu ?? 1,
      memoryMb: init.capabilities?.memoryMb ?? 512,
      tags: init.capabilities?.tags ?? []
    }
  }

  heartbeatMs (): number {
    return this.hidden ? HIDDEN_HEARTBEAT_INTERVAL_MS : (this.init.heartbeatMs ?? HEARTBEAT_INTERVAL_MS)
  }

  currentLoad (): Load {
    const external = this.init.loadSource?.() ?? {}
    return {
      agents: external.agents ?? 0,
      cpu: external.cpu ?? 0,
      memoryMb: external.memoryMb ?? 0,
      rssMb: external.rssMb ?? residentMemoryMb(),
      eventLoopLagMs: external.eventLoopLagMs ?? this.eventLoopLagMs
    }
  }

  /** this peer's record as of now, but for its counters and load */
  describe (): Omit<NodeRecord, 'seq' | 'ts' | 'load'> {
    return {
      peerId: this.peerId,
      mesh: this.init.mesh,
      role: this.init.role,
      raft: this.raftRole,
      addrs: (this.announcedAddrs ?? this.libp2p.getMultiaddrs().map(a => a.toString())).slice(0, 32),
      capabilities: this.capabilities,
      links: linksOf(this.libp2p.getConnections()),
      version: this.init.version ?? '0.0.0',
      incarnation: this.incarnation,
      heartbeatMs: this.heartbeatMs(),
      hidden: this.hidden,
      ext: { ...this.ext }
    }
  }

  /** heartbeats start now */
  beatsStarted (): void {
    this.lastBeatAt = this.clock.monotonic()
  }

  /** a heartbeat fired: how late it was feeds the event-loop lag */
  beat (): void {
    const now = this.clock.monotonic()
    const drift = Math.max(0, now - this.lastBeatAt - this.heartbeatMs())
    this.eventLoopLagMs = Math.round(this.eventLoopLagMs * 0.7 + drift * 0.3)
    this.lastBeatAt = now
  }
}
