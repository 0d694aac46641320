/**
 * NetworkManager: this peer's libp2p node, its signed record, the membership view with its failure
 * detector, discovery, and the mesh-wide topology. Its parts: self-record.ts (what the record says),
 * record-publisher.ts (publishing it), membership-inbound.ts (the nodes topic in), membership.ts
 * (the table), dialer.ts (who to dial), prober.ts (is a peer reachable), partition.ts and
 * clock-skew.ts (detectors), network-metrics.ts.
 */
import { TypedEventEmitter } from 'main-event'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import type { PeerInfo, PrivateKey } from '@libp2p/interface'
import { InvalidArgumentError, NotStartedError, describeError } from '../errors.ts'
import { systemClock, type Clock, type TimerHandle } from '../util/clock.ts'
import { componentLogger, type Logger } from '../util/logger.ts'
import type { AbortOptions } from '../util/abort.ts'
import { systemRng, type Rng } from '../util/prng.ts'
import type { Telemetry } from '../monitoring/types.ts'
import { DIAL_TIMEOUT_MS, FAILURE_CHECK_INTERVAL_MS, PROBE_TIMEOUT_MS, nodesTopic } from './constants.ts'
import { RecordPublisher } from './record-publisher.ts'
import { SelfRecord } from './self-record.ts'
import { Dialer } from './dialer.ts'
import { BootstrapKeeper } from './bootstrap-keeper.ts'
import { networkHealth, type NetworkHealth } from './network-health.ts'
import { MembershipInbound } from './membership-inbound.ts'
import { reachPeer } from './prober.ts'
import { createNetworkMetrics, type NetworkMetrics } from './network-metrics.ts'
import { MembershipTable, type Transition } from './membership.ts'
import { encodeMembershipMessage, MembershipMessageType } from './record-codec.ts'
import { linksOf, meshTopology } from './topology.ts'
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
  /** jitter of the bootstrap redial backoff; default systemRng */
  rng?: Rng
}

export interface NetworkManagerInit {
  mesh: string
  role: NodeRole
  raft?: RaftRole
  capabilities?: Partial<Capabilities>
  bootstrap?: string[]
  version?: string
  /** heartbeat interval this node promises; default HEARTBEAT_INTERVAL_MS (constants.ts) */
  heartbeatMs?: number
  /** load figures other components own (agents hosted, reserved cpu/memory) */
  loadSource?: () => Partial<Load>
  /** how often the full record is republished when nothing in it changed; default RECORD_REFRESH_INTERVAL_MS */
  recordRefreshMs?: number
  /** this start's incarnation (`nextIncarnation` over the peer's store); default the wall clock now */
  incarnation?: number
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
  private readonly self: SelfRecord
  private readonly publisher: RecordPublisher
  private heartbeatTimer: TimerHandle | undefined
  private checkTimer: TimerHandle | undefined
  /** a discovery round (the first, or one after a bootstrap redial) is under way */
  private discovering = false
  private started = false
  private readonly probing = new Map<string, Promise<MemberStatus>>()
  private readonly stopController = new AbortController()
  private readonly telemetry?: Telemetry
  private readonly metrics: NetworkMetrics | undefined
  private readonly dialer: Dialer
  private readonly bootstrapKeeper: BootstrapKeeper
  private readonly inbound: MembershipInbound
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
    this.self = new SelfRecord(this.libp2p, this.clock, init)
    this.metrics = createNetworkMetrics(this.telemetry, { members: () => this.table.list(), connections: () => this.libp2p.getConnections() })
    this.dialer = new Dialer({ libp2p: this.libp2p, peerId: this.peerId, role: init.role, clock: this.clock, log: this.log, stopSignal: this.stopController.signal, started: () => this.started })
    this.bootstrapKeeper = new BootstrapKeeper({
      bootstrap: init.bootstrap ?? [],
      dial: async (target, options) => await this.libp2p.dial(target.addr, options),
      isConnectedTo: (target) => this.dialer.isConnectedTo(target),
      dialTimeoutMs: () => this.dialer.dialTimeoutMs(),
      // the members we knew may be gone or unknown (a first connection lost): look for them again
      onReconnected: () => { if (this.started && !this.discovering) this.discoverInBackground('discovery after a bootstrap redial') },
      clock: this.clock,
      rng: components.rng ?? systemRng,
      log: this.log,
      stopSignal: this.stopController.signal
    })
    this.publisher = new RecordPublisher({
      peerId: this.peerId,
      incarnation: this.self.incarnation,
      privateKey: this.privateKey,
      clock: this.clock,
      describe: () => this.self.describe(),
      load: () => this.self.currentLoad(),
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
    this.inbound = new MembershipInbound({
      peerId: this.peerId, mesh: init.mesh, topic: this.topic, table: this.table, publisher: this.publisher, clockSkew: this.clockSkew,
      apply: (transitions) => { this.apply(transitions) }, metrics: this.metrics, clock: this.clock, log: this.log
    })
  }

  async start (): Promise<void> {
    if (this.started) return
    this.started = true
    const pubsub = this.libp2p.services.pubsub
    pubsub.topicValidators.set(this.topic, this.inbound.validate)
    pubsub.subscribe(this.topic)
    pubsub.addEventListener('message', this.inbound.onPubsubMessage)
    this.libp2p.addEventListener('peer:disconnect', this.onPeerDisconnect)
    this.libp2p.addEventListener('peer:discovery', this.onPeerDiscovery)
    this.self.watchAddresses()
    this.telemetry?.registerHealthCheck('network', () => this.health())
    this.telemetry?.registerHealthCheck('partition', () => partitionHealth(this.partition.status()), { critical: false })
    this.telemetry?.registerHealthCheck('clock', () => clockSkewHealth(this.clockSkew.status()), { critical: false })
    this.partition.start()
    this.clockSkew.start()
    this.self.beatsStarted()
    this.heartbeatTimer = this.clock.setInterval(this.heartbeat, this.self.heartbeatMs())
    this.checkTimer = this.clock.setInterval(this.checkSilence, FAILURE_CHECK_INTERVAL_MS)
    void this.publishRecord()
    this.discoverInBackground('initial discovery')
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
      const bytes = await encodeMembershipMessage({ type: MembershipMessageType.Leave, peerId: this.peerId, incarnation: this.self.incarnation }, this.privateKey)
      await this.libp2p.services.pubsub.publish(this.topic, bytes)
    } catch (err) {
      this.log('could not announce leave: %s', describeError(err).message)
    }
    const pubsub = this.libp2p.services.pubsub
    pubsub.removeEventListener('message', this.inbound.onPubsubMessage)
    pubsub.topicValidators.delete(this.topic)
    pubsub.unsubscribe(this.topic)
    this.libp2p.removeEventListener('peer:disconnect', this.onPeerDisconnect)
    this.libp2p.removeEventListener('peer:discovery', this.onPeerDiscovery)
    this.self.unwatchAddresses()
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
      this.self.announcedAddrs = list
    }
    if (capabilities != null) this.self.capabilities = { ...this.self.capabilities, ...capabilities }
    return await this.publishRecord()
  }

  /**
   * Finds peers: dials the bootstrap list when no bootstrap peer is connected (one attempt; the
   * bootstrap keeper goes on redialling with backoff and runs discovery again once one answers),
   * walks the DHT for peers close to us, and dials members we know of but are not connected to.
   * Returns the peer ids known after the round.
   */
  async discoverNodes (options: AbortOptions = {}): Promise<string[]> {
    this.assertStarted()
    const signal = AbortSignal.any([this.stopController.signal, ...(options.signal != null ? [options.signal] : [])])
    await this.bootstrapKeeper.dialNow({ signal })
    if (this.libp2p.getConnections().length > 0 && !signal.aborted) {
      try {
        for await (const peer of this.libp2p.peerRouting.getClosestPeers(this.libp2p.peerId.toMultihash().bytes, { signal: AbortSignal.any([signal, AbortSignal.timeout(DIAL_TIMEOUT_MS)]) })) {
          this.dialer.maybeDial({ id: peer.id, multiaddrs: peer.multiaddrs })
        }
      } catch (err) {
        this.log('DHT walk ended: %s', describeError(err).message)
      }
    }
    for (const m of this.table.list()) {
      if (m.status !== 'failed') this.dialer.maybeDial({ id: peerIdFromString(m.peerId), multiaddrs: m.record.addrs.map(a => multiaddr(a)) })
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
    if (role === this.self.raftRole) return
    this.self.raftRole = role
    void this.publishRecord().catch(() => {})
  }

  setExtension (key: string, value: unknown): void {
    this.self.ext[key] = value
    void this.publishRecord().catch(() => {})
  }

  /** A hidden tab is throttled: it announces a slower heartbeat so it isn't declared failed. */
  setHidden (hidden: boolean): void {
    if (hidden === this.self.hidden) return
    this.self.hidden = hidden
    this.clock.clearInterval(this.heartbeatTimer)
    if (this.started) this.heartbeatTimer = this.clock.setInterval(this.heartbeat, this.self.heartbeatMs())
    void this.publishRecord().catch(() => {})
  }

  // ---- internals ---------------------------------------------------------------------------

  private async publishRecord (): Promise<NodeRecord> {
    return await this.publisher.publishRecord()
  }

  private readonly heartbeat = (): void => {
    this.self.beat()
    this.publisher.beat().catch(err => { this.log('heartbeat publish failed: %s', describeError(err).message) })
  }

  private readonly checkSilence = (): void => {
    this.apply(this.table.check(this.clock.monotonic()))
    // a peer with a bootstrap list keeps one of them connected, not merely some peer
    this.bootstrapKeeper.tick()
  }

  /** one discovery round at a time, not awaited; failures are logged */
  private discoverInBackground (what: string): void {
    this.discovering = true
    this.discoverNodes()
      .catch(err => { if (this.started) this.log.error('%s failed: %s', what, describeError(err).message) })
      .finally(() => { this.discovering = false })
  }

  private readonly onPeerDisconnect = (evt: CustomEvent<{ toString: () => string }>): void => {
    const peer = evt.detail.toString()
    const transitions = this.table.onDisconnect(peer)
    if (transitions.length === 0) return
    this.apply(transitions)
    this.handleNodeFailure(peer).catch(err => { this.log('probe of %s failed: %s', peer, describeError(err).message) })
  }

  private readonly onPeerDiscovery = (evt: CustomEvent<PeerInfo>): void => {
    this.dialer.maybeDial(evt.detail)
  }

  private async probe (nodeId: string, options: AbortOptions): Promise<MemberStatus> {
    const attemptSignal = (): AbortSignal => AbortSignal.any([this.stopController.signal, AbortSignal.timeout(PROBE_TIMEOUT_MS), ...(options.signal != null ? [options.signal] : [])])
    // a fresh connection gets a dial's budget, not a ping's (a dead process refuses it at once)
    const dialSignal = (): AbortSignal => AbortSignal.any([this.stopController.signal, AbortSignal.timeout(this.dialer.dialTimeoutMs()), ...(options.signal != null ? [options.signal] : [])])
    const member = this.table.get(nodeId)
    try {
      await reachPeer({ libp2p: this.libp2p, nodeId, addrs: member?.record.addrs ?? [], attemptSignal, dialSignal, cancelled: () => this.stopController.signal.aborted || options.signal?.aborted === true, log: this.log })
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
          this.dialer.maybeDial({ id: peerIdFromString(t.member.peerId), multiaddrs: t.member.record.addrs.map(a => multiaddr(a)) })
          break
        case 'failed': this.clockSkew.forget(t.member.peerId); this.metrics?.failures.inc(); this.log('%s failed: %s', t.member.peerId, t.reason); break
        case 'suspect': this.log('%s suspect: %s', t.member.peerId, t.reason); break
        case 'recovered': this.log('%s recovered', t.member.peerId); break
      }
      this.safeDispatchEvent(`node:${t.kind}`, { detail })
    }
  }

  private health (): NetworkHealth {
    return networkHealth({ connections: this.libp2p.getConnections().length, members: this.aliveMembers().length, bootstrap: this.bootstrapKeeper.status() })
  }

  private assertStarted (): void {
    if (!this.started) throw new NotStartedError('NetworkManager is not started')
  }
}
