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

/** libp2p's events after which its listen addresses may differ */
const ADDRESS_EVENTS = ['self:peer:update', 'transport:listening', 'transport:close'] as const

/** at the latest, libp2p's addresses are read again this long after the last read */
const ADDRS_MAX_AGE_MS = 5_000

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
  /** libp2p's listen addresses as last read, while watched (reading them is not free; every beat needs them) */
  private addrs: { list: string[], at: number } | undefined
  private watching = false

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
      addrs: (this.announcedAddrs ?? this.listenAddrs()).slice(0, 32),
      capabilities: this.capabilities,
      links: linksOf(this.libp2p.getConnections()),
      version: this.init.version ?? '0.0.0',
      incarnation: this.incarnation,
      heartbeatMs: this.heartbeatMs(),
      hidden: this.hidden,
      ext: { ...this.ext }
    }
  }

  /**
   * From now on libp2p's addresses are read again only after it says they changed (a transport
   * started or stopped listening, or its own record changed) or ADDRS_MAX_AGE_MS after the last read
   */
  watchAddresses (): void {
    if (this.watching) return
    this.watching = true
    this.addrs = undefined
    for (const event of ADDRESS_EVENTS) this.libp2p.addEventListener(event, this.addressesChanged)
  }

  unwatchAddresses (): void {
    if (!this.watching) return
    this.watching = false
    this.addrs = undefined
    for (const event of ADDRESS_EVENTS) this.libp2p.removeEventListener(event, this.addressesChanged)
  }

  private readonly addressesChanged = (): void => { this.addrs = undefined }

  private listenAddrs (): string[] {
    const now = this.clock.monotonic()
    if (this.watching && this.addrs !== undefined && now - this.addrs.at < ADDRS_MAX_AGE_MS) return this.addrs.list
    const list = this.libp2p.getMultiaddrs().map(a => a.toString())
    if (this.watching) this.addrs = { list, at: now }
    return list
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
