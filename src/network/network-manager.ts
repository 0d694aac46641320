/**
 * NetworkManager: this peer's libp2p node, its signed record, the membership view with its failure
 * detector, discovery, and the mesh-wide topology.
 */
import { TypedEventEmitter } from 'main-event'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { TopicValidatorResult } from '@libp2p/gossipsub'
import type { Message } from '@libp2p/gossipsub'
import type { PeerInfo, PrivateKey } from '@libp2p/interface'
import { residentMemoryMb } from '#platform/process'
import { InvalidArgumentError, NotStartedError, describeError } from '../errors.ts'
import { systemClock, type Clock, type TimerHandle } from '../util/clock.ts'
import { componentLogger, type Logger } from '../util/logger.ts'
import type { AbortOptions } from '../util/abort.ts'
import type { Telemetry } from '../monitoring/types.ts'
import {
  BOOTSTRAP_RETRY_MAX_MS, DIAL_BACKOFF_MAX_MS, DIAL_BACKOFF_MIN_MS, DIAL_TIMEOUT_MS, MAX_DIAL_BACKOFF_PEERS, TAB_DIAL_TIMEOUT_MS, FAILURE_CHECK_INTERVAL_MS, HEARTBEAT_INTERVAL_MS,
  HIDDEN_HEARTBEAT_INTERVAL_MS, MAX_DIALS_IN_FLIGHT, PROBE_TIMEOUT_MS, nodesTopic
} from './constants.ts'
import { RecordPublisher } from './record-publisher.ts'
import { MembershipTable, type Transition } from './membership.ts'
import { decodeMembershipMessage, encodeMembershipMessage, MembershipMessageType } from './record-codec.ts'
import { linksOf, meshTopology, transportOf } from './topology.ts'
import { PartitionDetector, partitionHealth } from './partition.ts'
import { ClockSkewDetector, clockSkewHealth } from './clock-skew.ts'
import type { MeshLibp2p } from './libp2p.ts'
import type {
  Capabilities, ClockSkewStatus, Load, Member, MemberStatus, NetworkEvents, NodeRecord, NodeRole, PartitionStatus, RaftRole, Topology
} from './types.ts'

export interface NetworkManagerComponents {
  libp2p: MeshLibp2p
  privateKey: PrivateKey
  telemetry?: Telemetry
  clock?: Clock
}

export interface NetworkManagerInit {
  mesh: string
  role: NodeRole
  raft?: RaftRole
  capabilities?: Partial<Capabilities>
  bootstrap?: string[]
  version?: string
  /** heartbeat interval this node promises; default HEARTBEAT_INTERVAL_MS */
  heartbeatMs?: number
  /** load figures other components own (agents hosted, reserved cpu/memory) */
  loadSource?: () => Partial<Load>
  /** how often the full record is republished when nothing in it changed; default RECORD_REFRESH_INTERVAL_MS */
  recordRefreshMs?: number
}

export class NetworkManager extends TypedEventEmitter<NetworkEvents> {
  readonly peerId: string
  readonly libp2p: MeshLibp2p
  private readonly privateKey: PrivateKey
  private readonly clock: Clock
  private readonly log: Logger
  private readonly init: NetworkManagerInit
  private readonly table: MembershipTable
  private readonly topic: string
  private readonly incarnation: number
  private capabilities: Capabilities
  private announcedAddrs: string[] | undefined
  private raftRole: RaftRole
  private hidden = false
  private readonly ext: Record<string, unknown> = {}
  private readonly publisher: RecordPublisher
  private heartbeatTimer: TimerHandle | undefined
  private checkTimer: TimerHandle | undefined
  private lastBeatAt = 0
  private eventLoopLagMs = 0
  private started = false
  private readonly dialing = new Set<string>()
  /** peers whose last dials failed: not dialled again before `until` (monotonic) */
  private readonly dialBackoff = new Map<string, { failures: number, until: number }>()
  private readonly probing = new Map<string, Promise<MemberStatus>>()
  private readonly stopController = new AbortController()
  private readonly telemetry?: Telemetry
  private readonly metrics: ReturnType<NetworkManager['createMetrics']>
  private readonly partition: PartitionDetector
  private readonly clockSkew: ClockSkewDetector
  private voterSource: () => readonly string[] = () => []

  constructor (components: NetworkManagerComponents, init: NetworkManagerInit) {
    super()
    this.libp2p = components.libp2p
    this.privateKey = components.privateKey
    this.peerId = this.libp2p.peerId.toString()
    this.clock = components.clock ?? systemClock
    this.telemetry = components.telemetry
    this.log = componentLogger('network')
    this.init = init
    this.topic = nodesTopic(init.mesh)
    this.table = new MembershipTable({ selfId: this.peerId })
    this.incarnation = this.clock.now()
    this.raftRole = init.raft ?? 'none'
    this.capabilities = {
      cpu: init.capabilities?.cpu ?? 1,
      memoryMb: init.capabilities?.memoryMb ?? 512,
      tags: init.capabilities?.tags ?? []
    }
    this.metrics = this.createMetrics()
    this.publisher = new RecordPublisher({
      peerId: this.peerId,
      incarnation: this.incarnation,
      privateKey: this.privateKey,
      clock: this.clock,
      describe: () => this.describeSelf(),
      load: () => this.currentLoad(),
      publish: async (bytes) => { if (this.started) await this.libp2p.services.pubsub.publish(this.topic, bytes) },
      ...(init.recordRefreshMs != null ? { refreshMs: init.recordRefreshMs } : {}),
      log: this.log
    })
    this.partition = new PartitionDetector({
      clock: this.clock,
      read: () => ({ selfId: this.peerId, directLinks: linksOf(this.libp2p.getConnections()).map(l => l.peer), members: this.table.list(), voters: this.voterSource() }),
      onChange: (status) => {
        this.log(status.partitioned ? 'partitioned (%s side; voters out of reach: %s)' : 'healed', status.majority ? 'majority' : 'minority', status.unreachableVoters.join(', '))
        this.safeDispatchEvent(status.partitioned ? 'network:partitioned' : 'network:healed', { detail: status })
      }
    })
    this.clockSkew = new ClockSkewDetector({
      clock: this.clock,
      onChange: (status) => {
        if (status.outlier) this.log.error('this peer\'s wall clock is the outlier: %d of %d peers are more than the drift bound off (median offset %d ms)', status.farPeers, status.peers, status.offsetMs)
        else this.log('wall clock agrees with the other peers again (median offset %d ms)', status.offsetMs)
        this.safeDispatchEvent(status.outlier ? 'network:clock-skew' : 'network:clock-synced', { detail: status })
      }
    })
  }

  private createMetrics () {
    const m = this.telemetry?.metrics
    if (m == null) return undefined
    return {
      members: m.gauge('agentmesh_network_members', {
        help: 'members of the mesh known to this peer, by status',
        labelNames: ['status'],
        collect: (g) => {
          const counts: Record<MemberStatus, number> = { alive: 0, suspect: 0, failed: 0 }
          for (const x of this.table.list()) counts[x.status]++
          for (const [status, n] of Object.entries(counts)) g.set(n, { status })
        }
      }),
      connections: m.gauge('agentmesh_network_connections', {
        help: 'open connections by transport',
        labelNames: ['transport'],
        collect: (g) => {
          const counts: Record<string, number> = { tcp: 0, websockets: 0, webrtc: 0, 'circuit-relay': 0 }
          for (const c of this.libp2p.getConnections()) counts[transportOf(c.remoteAddr.toString())]++
          for (const [transport, n] of Object.entries(counts)) g.set(n, { transport })
        }
      }),
      failures: m.counter('agentmesh_network_node_failures_total', { help: 'peers this peer saw fail' }),
      invalid: m.counter('agentmesh_network_invalid_messages_total', { help: 'membership messages rejected', labelNames: ['reason'] })
    }
  }

  async start (): Promise<void> {
    if (this.started) return
    this.started = true
    const pubsub = this.libp2p.services.pubsub
    pubsub.topicValidators.set(this.topic, this.validate)
    pubsub.subscribe(this.topic)
    pubsub.addEventListener('message', this.onPubsubMessage)
    this.libp2p.addEventListener('peer:disconnect', this.onPeerDisconnect)
    this.libp2p.addEventListener('peer:discovery', this.onPeerDiscovery)
    this.telemetry?.registerHealthCheck('network', () => this.health())
    this.telemetry?.registerHealthCheck('partition', () => partitionHealth(this.partition.status()), { critical: false })
    this.telemetry?.registerHealthCheck('clock', () => clockSkewHealth(this.clockSkew.status()), { critical: false })
    this.partition.start()
    this.clockSkew.start()
    this.lastBeatAt = this.clock.monotonic()
    this.heartbeatTimer = this.clock.setInterval(this.heartbeat, this.heartbeatMs())
    this.checkTimer = this.clock.setInterval(this.checkSilence, FAILURE_CHECK_INTERVAL_MS)
    void this.publishRecord()
    void this.discoverNodes().catch(err => { this.log.error('initial discovery failed: %s', describeError(err).message) })
  }

  async stop (): Promise<void> {
    if (!this.started) return
    this.started = false
    this.stopController.abort()
    this.clock.clearInterval(this.heartbeatTimer)
    this.clock.clearInterval(this.checkTimer)
    this.partition.stop()
    this.clockSkew.stop()
    try {
      const bytes = await encodeMembershipMessage({ type: MembershipMessageType.Leave, peerId: this.peerId, incarnation: this.incarnation }, this.privateKey)
      await this.libp2p.services.pubsub.publish(this.topic, bytes)
    } catch (err) {
      this.log('could not announce leave: %s', describeError(err).message)
    }
    const pubsub = this.libp2p.services.pubsub
    pubsub.removeEventListener('message', this.onPubsubMessage)
    pubsub.topicValidators.delete(this.topic)
    pubsub.unsubscribe(this.topic)
    this.libp2p.removeEventListener('peer:disconnect', this.onPeerDisconnect)
    this.libp2p.removeEventListener('peer:discovery', this.onPeerDiscovery)
  }

  // ---- the seed's methods ------------------------------------------------------------------

  /**
   * Registers this peer in the mesh: sets the addresses and capabilities it announces, signs its
   * record and publishes it now (and with every heartbeat after). Only a peer's own key can sign
   * its record, so `nodeId` must be this peer's id.
   */
  async registerNode (nodeId: string, address?: string | string[], capabilities?: Partial<Capabilities>): Promise<NodeRecord> {
    this.assertStarted()
    if (nodeId !== this.peerId) throw new InvalidArgumentError(`can only register this peer (${this.peerId}); ${nodeId} registers itself with its own key`)
    if (address != null) {
      const list = Array.isArray(address) ? address : [address]
      for (const a of list) {
        try { multiaddr(a) } catch (err) { throw new InvalidArgumentError(`not a multiaddr: ${a}`, { cause: err }) }
      }
      this.announcedAddrs = list
    }
    if (capabilities != null) this.capabilities = { ...this.capabilities, ...capabilities }
    return await this.publishRecord()
  }

  /**
   * Finds peers: dials the bootstrap list (retrying with backoff until one answers), walks the DHT
   * for peers close to us, and dials members we know of but are not connected to.
   * Returns the peer ids known after the round.
   */
  async discoverNodes (options: AbortOptions = {}): Promise<string[]> {
    this.assertStarted()
    const signal = AbortSignal.any([this.stopController.signal, ...(options.signal != null ? [options.signal] : [])])
    const bootstrap = this.init.bootstrap ?? []
    if (bootstrap.length > 0 && !bootstrap.some(a => this.isConnectedTo(a))) {
      let delay = 100
      for (;;) {
        const results = await Promise.allSettled(bootstrap.map(async a => await this.libp2p.dial(multiaddr(a), { signal: AbortSignal.any([signal, AbortSignal.timeout(this.dialTimeoutMs())]) })))
        if (results.some(r => r.status === 'fulfilled') || signal.aborted) break
        this.log('no bootstrap peer answered; retrying in %d ms', delay)
        await new Promise(resolve => this.clock.setTimeout(() => { resolve(undefined) }, delay))
        delay = Math.min(delay * 2, BOOTSTRAP_RETRY_MAX_MS)
      }
    }
    if (this.libp2p.getConnections().length > 0 && !signal.aborted) {
      try {
        for await (const peer of this.libp2p.peerRouting.getClosestPeers(this.libp2p.peerId.toMultihash().bytes, { signal: AbortSignal.any([signal, AbortSignal.timeout(DIAL_TIMEOUT_MS)]) })) {
          this.maybeDial({ id: peer.id, multiaddrs: peer.multiaddrs })
        }
      } catch (err) {
        this.log('DHT walk ended: %s', describeError(err).message)
      }
    }
    for (const m of this.table.list()) {
      if (m.status !== 'failed') this.maybeDial({ id: peerIdFromString(m.peerId), multiaddrs: m.record.addrs.map(a => multiaddr(a)) })
    }
    return this.table.list().map(m => m.peerId)
  }

  /** Recomputes this peer's links, publishes them, and returns the mesh-wide topology. */
  async updateTopology (): Promise<Topology> {
    this.assertStarted()
    await this.publishRecord()
    const topology = this.getTopology()
    this.safeDispatchEvent('topology:changed', { detail: topology })
    return topology
  }

  /**
   * Decides whether `nodeId` is gone: probes it directly (ping over an open connection, or a fresh
   * dial). Unreachable -> failed, announced to the mesh, `node:failed`. Reachable -> alive.
   * Called by the failure detector when a connection closes; other components call it when they
   * suspect a peer (e.g. an RPC timed out).
   */
  async handleNodeFailure (nodeId: string, options: AbortOptions = {}): Promise<MemberStatus> {
    this.assertStarted()
    const running = this.probing.get(nodeId)
    if (running != null) return await running
    const probe = this.probe(nodeId, options).finally(() => this.probing.delete(nodeId))
    this.probing.set(nodeId, probe)
    return await probe
  }

  // ---- views -------------------------------------------------------------------------------

  members (): Member[] {
    return this.table.list()
  }

  member (peerId: string): Member | undefined {
    return this.table.get(peerId)
  }

  aliveMembers (): Member[] {
    return this.table.list().filter(m => m.status === 'alive')
  }

  /** This peer's current record (what it last published). */
  localRecord (): NodeRecord {
    return this.publisher.current()
  }

  getTopology (): Topology {
    const self = this.localRecord()
    return meshTopology({ peerId: this.peerId, role: self.role, links: linksOf(this.libp2p.getConnections()) }, this.table.list())
  }

  /**
   * Partition awareness: the members this peer reaches (directly or through others' links) and
   * whether its side holds a Raft voter majority (voters from `setVoterSource`).
   */
  partitionStatus (): PartitionStatus {
    return this.partition.status()
  }

  /**
   * Is this peer's wall clock the odd one out (most peers' record stamps more than
   * CLOCK_SKEW_OUTLIER_MS off it, the same way)? Such a peer is cut off from messaging by the HLC
   * drift bound; `network:clock-skew` / `network:clock-synced` report the changes.
   */
  clockSkewStatus (): ClockSkewStatus {
    return this.clockSkew.status()
  }

  /** where partition awareness reads the Raft voters (the composition root wires ConsensusManager in) */
  setVoterSource (voters: () => readonly string[]): void {
    this.voterSource = voters
  }

  /** Other components announce facts about this peer through its record. */
  setRaftRole (role: RaftRole): void {
    if (role === this.raftRole) return
    this.raftRole = role
    void this.publishRecord().catch(() => {})
  }

  setExtension (key: string, value: unknown): void {
    this.ext[key] = value
    void this.publishRecord().catch(() => {})
  }

  /** A hidden tab is throttled: it announces a slower heartbeat so it isn't declared failed. */
  setHidden (hidden: boolean): void {
    if (hidden === this.hidden) return
    this.hidden = hidden
    this.clock.clearInterval(this.heartbeatTimer)
    if (this.started) this.heartbeatTimer = this.clock.setInterval(this.heartbeat, this.heartbeatMs())
    void this.publishRecord().catch(() => {})
  }

  // ---- internals ---------------------------------------------------------------------------

  /**
   * A tab's dials wait longer: to another tab a dial is several round trips through the relay, and
   * a dial cut off before a loaded peer finishes its handshake is retried from scratch, which loads
   * it further (a tab at load 25 never reached the relay with 5 s attempts)
   */
  private dialTimeoutMs (): number {
    return this.init.role === 'browser' ? TAB_DIAL_TIMEOUT_MS : DIAL_TIMEOUT_MS
  }

  private heartbeatMs (): number {
    return this.hidden ? HIDDEN_HEARTBEAT_INTERVAL_MS : (this.init.heartbeatMs ?? HEARTBEAT_INTERVAL_MS)
  }

  private currentLoad (): Load {
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
  private describeSelf (): Omit<NodeRecord, 'seq' | 'ts' | 'load'> {
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

  private async publishRecord (): Promise<NodeRecord> {
    return await this.publisher.publishRecord()
  }

  private readonly heartbeat = (): void => {
    const now = this.clock.monotonic()
    const drift = Math.max(0, now - this.lastBeatAt - this.heartbeatMs())
    this.eventLoopLagMs = Math.round(this.eventLoopLagMs * 0.7 + drift * 0.3)
    this.lastBeatAt = now
    this.publisher.beat().catch(err => { this.log('heartbeat publish failed: %s', describeError(err).message) })
  }

  private readonly checkSilence = (): void => {
    this.apply(this.table.check(this.clock.monotonic()))
  }

  /** gossipsub validator: only well-formed, correctly signed, self-authored messages are forwarded */
  private readonly validate = async (peer: unknown, msg: Message): Promise<TopicValidatorResult> => {
    if (msg.type !== 'signed') return TopicValidatorResult.Reject
    try {
      await decodeMembershipMessage(msg.data, msg.from.toString(), this.init.mesh)
      return TopicValidatorResult.Accept
    } catch (err) {
      const { name, message } = describeError(err)
      this.metrics?.invalid.inc(1, { reason: name })
      this.log.error('rejected membership message from %s: %s: %s', msg.from.toString(), name, message)
      return TopicValidatorResult.Reject
    }
  }

  private readonly onPubsubMessage = (evt: CustomEvent<Message>): void => {
    const msg = evt.detail
    if (msg.topic !== this.topic || msg.type !== 'signed') return
    decodeMembershipMessage(msg.data, msg.from.toString(), this.init.mesh, { verified: true }).then(decoded => {
      const now = this.clock.monotonic()
      switch (decoded.type) {
        case MembershipMessageType.Record:
          this.apply(this.table.onRecord(decoded.record, now))
          this.observeClock(decoded.record.peerId, decoded.record.seq, decoded.record.ts)
          break
        case MembershipMessageType.Leave:
          this.apply(this.table.markFailed(decoded.peerId, 'left the mesh'))
          break
        case MembershipMessageType.Failed:
          this.apply(this.table.onObituary(decoded.subject, decoded.incarnation, decoded.seq, decoded.author))
          break
        case MembershipMessageType.Heartbeat: {
          const { transitions, wantRecord } = this.table.onHeartbeat(decoded.heartbeat, now)
          this.apply(transitions)
          this.observeClock(decoded.heartbeat.peerId, decoded.heartbeat.seq, decoded.heartbeat.ts)
          if (wantRecord) this.publisher.want(decoded.heartbeat.peerId)
          break
        }
        case MembershipMessageType.Wanted:
          if (decoded.subjects.includes(this.peerId)) this.publisher.recordRequested()
          break
      }
    }, err => { this.log.error('bad membership message: %s', describeError(err).message) })
  }

  /** a stamp the table took (not an old or replayed one) tells how far that peer's clock is from ours */
  private observeClock (peerId: string, seq: number, ts: number): void {
    const m = this.table.get(peerId)
    if (m != null && m.status === 'alive' && m.record.seq === seq && m.record.ts === ts) this.clockSkew.observe(peerId, ts)
  }

  private readonly onPeerDisconnect = (evt: CustomEvent<{ toString: () => string }>): void => {
    const peer = evt.detail.toString()
    const transitions = this.table.onDisconnect(peer)
    if (transitions.length === 0) return
    this.apply(transitions)
    this.handleNodeFailure(peer).catch(err => { this.log('probe of %s failed: %s', peer, describeError(err).message) })
  }

  private readonly onPeerDiscovery = (evt: CustomEvent<PeerInfo>): void => {
    this.maybeDial(evt.detail)
  }

  /** Dials a discovered peer when it is useful and possible from this platform. */
  private maybeDial (info: PeerInfo): void {
    const id = info.id.toString()
    if (!this.started || id === this.peerId || this.dialing.has(id) || this.dialing.size >= MAX_DIALS_IN_FLIGHT) return
    if (this.libp2p.getConnections(info.id).some(c => c.status === 'open' && c.limits == null)) return
    const backoff = this.dialBackoff.get(id)
    if (backoff != null && this.clock.monotonic() < backoff.until) return
    const addrs = info.multiaddrs.map(a => a.toString())
    const direct = this.init.role === 'browser'
      ? addrs.filter(a => a.includes('/webrtc') || (a.includes('/ws') && !a.includes('/p2p-circuit')))
      : addrs.filter(a => !a.includes('/p2p-circuit') && !a.includes('/webrtc'))
    if (direct.length === 0) return
    this.dialing.add(id)
    const targets = direct.map(a => multiaddr(a.includes('/p2p/') ? a : `${a}/p2p/${id}`))
    this.libp2p.dial(targets, { signal: AbortSignal.any([this.stopController.signal, AbortSignal.timeout(this.dialTimeoutMs())]) })
      .then(() => {
        this.dialBackoff.delete(id)
        this.log('dialled %s', id)
      }, err => {
        const failures = (this.dialBackoff.get(id)?.failures ?? 0) + 1
        const waitMs = Math.min(DIAL_BACKOFF_MAX_MS, DIAL_BACKOFF_MIN_MS * 2 ** (failures - 1))
        const now = this.clock.monotonic()
        // peers gone for good would fill the map and end backing off for everyone: drop long-expired ones
        if (this.dialBackoff.size >= MAX_DIAL_BACKOFF_PEERS) for (const [peer, b] of this.dialBackoff) if (now - b.until > DIAL_BACKOFF_MAX_MS) this.dialBackoff.delete(peer)
        if (this.dialBackoff.size < MAX_DIAL_BACKOFF_PEERS || this.dialBackoff.has(id)) this.dialBackoff.set(id, { failures, until: now + waitMs })
        this.log('dial %s failed (%d in a row; next try in %d ms or more): %s', id, failures, waitMs, describeError(err).message)
      })
      .finally(() => this.dialing.delete(id))
  }

  private async probe (nodeId: string, options: AbortOptions): Promise<MemberStatus> {
    const attemptSignal = (): AbortSignal => AbortSignal.any([this.stopController.signal, AbortSignal.timeout(PROBE_TIMEOUT_MS), ...(options.signal != null ? [options.signal] : [])])
    const member = this.table.get(nodeId)
    try {
      const id = peerIdFromString(nodeId)
      const open = this.libp2p.getConnections(id).find(c => c.status === 'open')
      const dialAndPing = async (): Promise<void> => {
        const signal = attemptSignal()
        const addrs = (member?.record.addrs ?? []).map(a => multiaddr(a))
        const conn = await this.libp2p.dial(addrs.length > 0 ? addrs : id, { signal, force: open != null })
        await this.libp2p.services.ping.ping(conn.remoteAddr, { signal })
      }
      if (open == null) {
        await dialAndPing()
      } else {
        try {
          await this.libp2p.services.ping.ping(open.remoteAddr, { signal: attemptSignal() })
        } catch (err) {
          // a ping that breaks on one connection (reset, EOF while the other side restarts a link)
          // says nothing about the peer: a fresh dial decides (a dead process refuses it at once)
          if (this.stopController.signal.aborted || options.signal?.aborted === true) throw err
          this.log('ping of %s over its open connection failed (%s); dialling afresh', nodeId, describeError(err).message)
          await dialAndPing()
        }
      }
      this.apply(this.table.markReachable(nodeId, this.clock.monotonic()))
      return 'alive'
    } catch (err) {
      // a probe cut short by our stop or by the caller's signal learned nothing about the peer
      if (this.stopController.signal.aborted || options.signal?.aborted === true) return member?.status ?? 'failed'
      const reason = `unreachable: ${describeError(err).message}`
      const transitions = this.table.markFailed(nodeId, reason)
      this.apply(transitions)
      if (transitions.length > 0 && member != null) {
        encodeMembershipMessage({ type: MembershipMessageType.Failed, subject: nodeId, incarnation: member.record.incarnation, seq: member.record.seq }, this.privateKey)
          .then(async bytes => await this.libp2p.services.pubsub.publish(this.topic, bytes))
          .catch(e => { this.log('could not announce failure of %s: %s', nodeId, describeError(e).message) })
      }
      return 'failed'
    }
  }

  private apply (transitions: Transition[]): void {
    for (const t of transitions) {
      const detail = { peerId: t.member.peerId, member: t.member, reason: 'reason' in t ? t.reason : undefined }
      switch (t.kind) {
        case 'joined':
        case 'updated':
          if (t.kind === 'joined') {
            this.log('%s joined (%s)', t.member.peerId, t.member.record.role)
            // the newcomer knows nobody's record yet: ours goes out on the next beat instead of a heartbeat
            this.publisher.recordRequested()
          }
          // link up now rather than on the next discovery round; an update may bring the address
          // that makes a direct link possible (a tab's /webrtc address once its relay reservation is up)
          this.maybeDial({ id: peerIdFromString(t.member.peerId), multiaddrs: t.member.record.addrs.map(a => multiaddr(a)) })
          break
        case 'failed': this.clockSkew.forget(t.member.peerId); this.metrics?.failures.inc(); this.log('%s failed: %s', t.member.peerId, t.reason); break
        case 'suspect': this.log('%s suspect: %s', t.member.peerId, t.reason); break
        case 'recovered': this.log('%s recovered', t.member.peerId); break
      }
      this.safeDispatchEvent(`node:${t.kind}`, { detail })
    }
  }

  private isConnectedTo (addr: string): boolean {
    const id = multiaddr(addr).getComponents().find(c => c.name === 'p2p')?.value
    if (id != null) return this.libp2p.getConnections(peerIdFromString(id)).length > 0
    // no peer id in the address: connected if an open connection goes to that address
    return this.libp2p.getConnections().some(c => c.status === 'open' && c.remoteAddr.toString().startsWith(addr))
  }

  private health (): { status: 'ok' | 'degraded' | 'down', detail?: string, connections: number, members: number } {
    const connections = this.libp2p.getConnections().length
    const members = this.aliveMembers().length
    if ((this.init.bootstrap ?? []).length > 0 && connections === 0) {
      return { status: 'degraded', detail: 'not connected to any peer', connections, members }
    }
    return { status: 'ok', connections, members }
  }

  private assertStarted (): void {
    if (!this.started) throw new NotStartedError('NetworkManager is not started')
  }
}
