/**
 * ConsensusManager: this peer's part in the mesh's Raft group. It opens the durable log
 * (`store.sub('raft/')`), runs the driver over the libp2p transport, forms the group from nothing
 * or rejoins it (bootstrap), keeps the voter set healthy when it leads (autopilot), expires leases,
 * and offers the replicated store (`kv`) and the seed's `proposeChange` / `reachConsensus`.
 *
 * What it announces: its actual Raft role in its node record (`network.setRaftRole`) and
 * `ext.raft = { candidate, group }` (whether it wants to vote, and its group's id) for the
 * bootstrap and autopilot decisions of others.
 *
 * Beside it: its contract types (consensus-types.ts), what credentials decide (consensus-gate.ts),
 * lease expiry on the leader (lease-expiry.ts) and its health check (consensus-health.ts).
 */
import { TypedEventEmitter } from 'main-event'
import { NoQuorumError, NotFoundError, NotStartedError, UnauthorizedError, describeError } from '../errors.ts'
import { combineSignals, throwIfAborted } from '../util/abort.ts'
import type { AbortOptions } from '../util/abort.ts'
import { systemClock } from '../util/clock.ts'
import type { Clock, TimerHandle } from '../util/clock.ts'
import { componentLogger } from '../util/logger.ts'
import { systemRng } from '../util/prng.ts'
import { utf8Decoder } from '../util/utf8.ts'
import type { Rng } from '../util/prng.ts'
import type { Store } from '../storage/types.ts'
import type { Member, RaftRole } from '../network/index.ts'
import { BootstrapWatch } from './autopilot.ts'
import type { RaftAnnouncement } from './autopilot.ts'
import { runAutopilot, trackPeers } from './autopilot-runner.ts'
import type { PeerTracking } from './autopilot-runner.ts'
import { changeCommand, outcomeOf } from './changes.ts'
import { admitsRaftMessage, eligibleMembers, refusalFor } from './consensus-gate.ts'
import { consensusHealth } from './consensus-health.ts'
import type {
  ConsensusEvents, ConsensusManagerComponents, ConsensusManagerInit, ConsensusRaftTransport, ConsensusRole, ConsensusStatus
} from './consensus-types.ts'
import type { ConsensusChange, ProposalOutcome } from './changes.ts'
import {
  AUTOPILOT_INTERVAL_MS, BOOTSTRAP_CHECK_MS, BOOTSTRAP_EXPECT, DEFAULT_OPERATION_TIMEOUT_MS, LEASE_EXPIRY_CHECK_MS,
  MAX_REMEMBERED_OUTCOMES
} from './constants.ts'
import { RaftDriver } from './driver.ts'
import { ConsensusKv } from './kv.ts'
import { DurableRaftLog } from './log-store.ts'
import { LeaseExpiry } from './lease-expiry.ts'
import { createConsensusMetrics } from './metrics.ts'
import { MessageType } from './raft/types.ts'
import { Libp2pRaftTransport } from './raft-transport.ts'
import type { RaftTransportHandler } from './raft-transport.ts'
import type { StrongOperation } from './raft-wire.ts'
import { ReceivedRefusals } from './refusals.ts'
import { anchoredLeaseClock, stampLeaseTimes } from './lease-time.ts'

export type {
  ConsensusEvents, ConsensusManagerComponents, ConsensusManagerInit, ConsensusNetwork, ConsensusRaftTransport, ConsensusRole, ConsensusStatus
} from './consensus-types.ts'

const GROUP_KEY = 'group'
const encoder = new TextEncoder()

export class ConsensusManager extends TypedEventEmitter<ConsensusEvents> {
  readonly peerId: string
  readonly kv: ConsensusKv
  private readonly components: ConsensusManagerComponents
  private readonly init: ConsensusManagerInit
  private readonly clock: Clock
  /** the time leases are granted, renewed and expired by: see lease-time.ts */
  private readonly leaseClock: Clock
  private readonly log = componentLogger('consensus')
  private driverRef: RaftDriver | undefined
  private transport: ConsensusRaftTransport | undefined
  private meta: Store | undefined
  private group = ''
  private started = false
  private timers: TimerHandle[] = []
  private bootstrapWatch: BootstrapWatch | undefined
  private bootstrapping = false
  private autopilotBusy = false
  /** an autopilot round due right after a membership change was applied */
  /** stop() is under way (handing leadership off): no membership change starts */
  private stopping = false
  private readonly leaseExpiry: LeaseExpiry
  private readonly tracking: PeerTracking
  private announced = ''
  private lastRole: ConsensusRole = 'none'
  private readonly outcomes = new Map<string, ProposalOutcome>()
  private readonly inflight = new Map<string, Promise<ProposalOutcome>>()
  private readonly metrics: ReturnType<typeof createConsensusMetrics>
  private readonly refusals: ReceivedRefusals

  constructor (components: ConsensusManagerComponents, init: ConsensusManagerInit = {}) {
    super()
    this.components = components
    this.init = init
    this.clock = components.clock ?? systemClock
    this.peerId = components.network.peerId
    // lease times are the leader's, and immune to wall-clock steps (lease-time.ts)
    this.leaseClock = anchoredLeaseClock(this.clock)
    this.kv = new ConsensusKv(subject => this.strongDriver(subject), this.leaseClock)
    this.leaseExpiry = new LeaseExpiry(this.clock, this.leaseClock)
    this.tracking = { peers: new Map(), since: this.clock.monotonic() }
    this.metrics = createConsensusMetrics(components.telemetry?.metrics, () => this.driverRef)
    this.refusals = new ReceivedRefusals(this.clock, this.log)
  }

  private get driver (): RaftDriver {
    if (this.driverRef === undefined || !this.started) throw new NotStartedError('consensus is not started')
    return this.driverRef
  }

  /**
   * the driver, for a strong operation: on the minority side of a partition (as the network sees
   * it) the operation fails at once with NoQuorumError instead of waiting out its deadline — unless
   * Raft itself shows a working quorum (this peer leads, or heard from its leader within an election
   * timeout), which the network's view, built from gossip, must not overrule
   */
  private strongDriver (subject: StrongOperation): RaftDriver {
    const driver = this.driver
    // a peer without a valid credential in a credentialed mesh: its leader would drop what it forwards
    const gate = this.components.gate
    if (gate !== undefined && !gate.allows(this.peerId, 'member')) {
      throw new UnauthorizedError('this peer holds no valid membership credential: the mesh serves its KV proposals and reads only to members')
    }
    // its leader refused this kind of operation lately (it does not know the mesh is credentialed,
    // or the leader judges its credential invalid)
    const refused = this.refusals.current(driver.leader, subject)
    if (refused !== undefined) throw refused
    const p = this.components.network.partitionStatus?.()
    if (p !== undefined && !p.majority && !this.raftShowsQuorum(driver)) {
      throw new NoQuorumError(`on the minority side of a network partition: ${p.voters.length - p.unreachableVoters.length} of ${p.voters.length} raft voters in reach`)
    }
    return driver
  }

  /** this peer leads (check-quorum steps a cut-off leader down), or a leader reached it lately */
  private raftShowsQuorum (driver: RaftDriver): boolean {
    const r = driver.rawNode.raft
    if (r.role === 'leader') return true
    return r.lead !== '' && r.electionElapsed < r.cfg.electionTick
  }

  get candidate (): boolean {
    return this.init.voter !== false
  }

  async start (options: AbortOptions = {}): Promise<void> {
    if (this.started) return
    throwIfAborted(options.signal)
    const raftStore = this.components.store.sub('raft/')
    this.meta = raftStore.sub('meta/')
    const stored = await this.meta.get(GROUP_KEY)
    this.group = stored !== undefined ? utf8Decoder.decode(stored) : ''
    const log = this.components.openLog !== undefined
      ? await this.components.openLog(raftStore.sub('log/'), options)
      : await DurableRaftLog.open(raftStore.sub('log/'), {}, options)
    const clock = this.clock
    let driver: RaftDriver
    try {
      driver = new RaftDriver({
        id: this.peerId,
        log,
        sender: { send: (to, msgs) => { this.transport?.send(to, msgs) } },
        clock,
        rng: this.components.rng ?? systemRng,
        logger: componentLogger('consensus:driver'),
        ...(this.components.telemetry != null ? { tracing: this.components.telemetry } : {}),
        tickMs: this.init.tickMs,
        electionTicks: this.init.electionTicks,
        snapshotEveryEntries: this.init.snapshotEveryEntries,
        compactKeepEntries: this.init.compactKeepEntries,
        hooks: {
          leaderChanged: (leader, term) => {
            this.metrics.leaderChanges.inc()
            this.safeDispatchEvent('leader:changed', { detail: { leader: leader === '' ? null : leader, term } })
            this.announce()
          },
          roleChanged: () => { this.announce() },
          confChanged: (cs) => {
            this.safeDispatchEvent('membership:changed', { detail: { voters: [...cs.voters], learners: [...cs.learners] } })
            this.announce()
          },
          // the next change (the second promotion of 1 -> 3) goes out now, not a round later
          confApplied: () => { void this.autopilotRound() },
          snapshotInstalled: (groupId) => { void this.adoptGroup(groupId) },
          failed: () => { this.announce() },
          applied: (cmd, term) => { this.leaseExpiry.applied(cmd, term, () => this.driverRef?.status().term) },
          persisted: (s) => { this.metrics.fsync.observe(s) },
          proposalDone: (s, ok) => { this.metrics.proposals.observe(s, { outcome: ok ? 'ok' : 'error' }) }
        }
      })
      this.driverRef = driver
      const handler: RaftTransportHandler = {
        receive: (m, groupId) => {
          const gate = this.components.gate
          const verdict = admitsRaftMessage(gate, this.peerId, m)
          if (verdict !== undefined) {
            this.transport?.refuse(m.from, async () => await refusalFor(gate!, m.from, verdict), verdict.subject)
            return
          }
          // a leader judges lease expiry by its own clock, so it stamps the lease renewals forwarded to it
          driver.receive(m.type === MessageType.Prop && driver.rawNode.raft.role === 'leader' ? stampLeaseTimes(m, this.leaseClock.now()) : m, groupId)
        },
        unreachable: (peer) => { driver.reportUnreachable(peer) },
        snapshotStatus: (peer, ok) => { driver.reportSnapshot(peer, ok) },
        groupId: () => this.group,
        refused: (peer, refusal) => { this.refusals.received(peer, refusal, driver) }
      }
      this.transport = this.components.raftTransport !== undefined
        ? this.components.raftTransport({ selfId: this.peerId, clock, handler })
        : new Libp2pRaftTransport({ libp2p: this.components.libp2p, selfId: this.peerId, clock, log: componentLogger('consensus:transport'), handler })
      await this.transport.start()
    } catch (err) {
      // a start that fails leaves nothing open: the log's file handles are released
      this.transport = undefined
      this.driverRef = undefined
      await log.close()
      throw err
    }
    this.started = true
    this.stopping = false
    driver.start()
    this.bootstrapWatch = new BootstrapWatch(this.peerId, this.init.bootstrapExpect ?? BOOTSTRAP_EXPECT, clock.monotonic())
    this.timers.push(clock.setInterval(() => { this.maintain() }, BOOTSTRAP_CHECK_MS))
    this.timers.push(clock.setInterval(() => { void this.autopilotRound() }, AUTOPILOT_INTERVAL_MS))
    this.timers.push(clock.setInterval(() => { if (this.started) this.leaseExpiry.check(this.driverRef!) }, LEASE_EXPIRY_CHECK_MS))
    this.components.telemetry?.registerHealthCheck('consensus', () => consensusHealth(this.started ? this.driverRef : undefined, this.role(), this.peerId, this.group), { critical: false })
    this.announce()
    this.log('started: group %s, log up to %d', this.group === '' ? '(none)' : this.group, log.lastIndex())
  }

  async stop (): Promise<void> {
    if (!this.started) return
    for (const t of this.timers) this.clock.clearInterval(t)
    this.timers = []
    this.stopping = true
    const driver = this.driverRef!
    await this.handOffLeadership(driver)
    this.started = false
    await driver.stop()
    await this.transport?.stop()
    this.transport = undefined
    await driver.log.close()
  }

  /** a leader that stops hands leadership to a caught-up voter first, so the group is not leaderless */
  private async handOffLeadership (driver: RaftDriver): Promise<void> {
    const st = driver.status()
    if (st.role !== 'leader' || st.voters.length < 2) return
    const to = st.voters
      .filter(v => v !== this.peerId && st.progress[v]?.recentActive === true)
      .sort((a, b) => (st.progress[b]?.match ?? 0) - (st.progress[a]?.match ?? 0))[0]
    if (to === undefined) return
    try {
      driver.transferLeader(to)
    } catch {
      return
    }
    const deadline = this.clock.monotonic() + 2 * driver.electionTimeoutMs
    while (driver.status().role === 'leader' && this.clock.monotonic() < deadline) {
      await new Promise(resolve => { this.clock.setTimeout(() => { resolve(undefined) }, 20) })
    }
  }

  status (): ConsensusStatus {
    const d = this.driver
    const st = d.status()
    return {
      role: this.role(),
      term: st.term,
      leader: st.lead === '' ? null : st.lead,
      commitIndex: st.commit,
      appliedIndex: d.sm.appliedIndex,
      voters: [...d.confState.voters],
      learners: [...d.confState.learners],
      group: this.group,
      snapshotIndex: d.log.snapshot().metadata.index
    }
  }

  private role (): ConsensusRole {
    const d = this.driverRef
    if (d === undefined || !d.isMember) return 'none'
    if (!d.isVoter) return 'learner'
    return d.rawNode.raft.role
  }

  /**
   * proposes a change (a write in the API's JSON form) under `changeId`, its idempotency id, and
   * waits until it is committed and applied: `committed` with its result, or `failed` when the
   * state machine refused it (e.g. a stale fence). A change proposed again under the same id is
   * applied once. NoQuorumError / TimeoutError when it could not be decided in time (ask
   * reachConsensus later).
   */
  async proposeChange (changeId: string, changeData: ConsensusChange, options: AbortOptions = {}): Promise<ProposalOutcome> {
    const cmd = changeCommand(changeId, changeData)
    const driver = this.strongDriver('proposal')
    const running = this.inflight.get(changeId)
    if (running !== undefined) return await running
    const p = driver.propose(cmd, { signal: combineSignals([options.signal], DEFAULT_OPERATION_TIMEOUT_MS) })
      .then(r => this.remember(outcomeOf(changeId, r)))
    this.inflight.set(changeId, p)
    try {
      return await p
    } finally {
      this.inflight.delete(changeId)
    }
  }

  /**
   * the outcome of a proposal: waits for one proposed here (unless `wait: false`, which answers
   * `pending`), else looks it up linearizably in the replicated idempotency records.
   * NotFoundError when no member knows it (never proposed, or forgotten long ago).
   */
  async reachConsensus (proposalId: string, options: AbortOptions & { wait?: boolean } = {}): Promise<ProposalOutcome> {
    const running = this.inflight.get(proposalId)
    if (running !== undefined) {
      if (options.wait === false) return { id: proposalId, status: 'pending' }
      return await running
    }
    const known = this.outcomes.get(proposalId)
    if (known !== undefined) return known
    const driver = this.driver
    await driver.readBarrier({ signal: combineSignals([options.signal], DEFAULT_OPERATION_TIMEOUT_MS) })
    const rec = driver.sm.requestRecord(proposalId)
    if (rec === undefined) throw new NotFoundError(`proposal ${JSON.stringify(proposalId)} is unknown`)
    return this.remember(outcomeOf(proposalId, rec.result))
  }

  private remember (o: ProposalOutcome): ProposalOutcome {
    this.outcomes.set(o.id, o)
    while (this.outcomes.size > MAX_REMEMBERED_OUTCOMES) this.outcomes.delete(this.outcomes.keys().next().value!)
    return o
  }

  // ---- group membership ----

  private announce (): void {
    if (!this.started) return
    const role = this.role()
    const raftRole: RaftRole = role === 'none' ? 'none' : role === 'learner' ? 'learner' : 'voter'
    this.components.network.setRaftRole(raftRole)
    const a: RaftAnnouncement = { candidate: this.candidate, group: this.group }
    const key = JSON.stringify(a)
    if (key !== this.announced) {
      this.announced = key
      this.components.network.setExtension('raft', a)
    }
    if (role !== this.lastRole) {
      this.lastRole = role
      this.safeDispatchEvent('role:changed', { detail: { role } })
    }
  }

  private async adoptGroup (groupId: string): Promise<void> {
    if (this.group !== '' || groupId === '') return
    this.group = groupId
    this.log('joined group %s', groupId)
    try {
      await this.meta?.put(GROUP_KEY, encoder.encode(groupId), { sync: true })
    } catch (err) {
      this.log.error('cannot record the group id: %s', describeError(err).message)
    }
    this.announce()
  }

  /** runs every BOOTSTRAP_CHECK_MS: peer tracking, and bootstrapping while this peer has no log */
  private maintain (): void {
    if (!this.started) return
    const now = this.clock.monotonic()
    const members = this.eligibleMembers()
    trackPeers(this.tracking, members, now)
    const d = this.driverRef!
    if (d.log.lastIndex() > 0 || this.bootstrapping || !this.candidate || d.failure !== undefined) return
    const candidates: string[] = []
    let groupSeen = false
    for (const m of members) {
      const a = m.record.ext.raft as RaftAnnouncement | undefined
      if (m.status === 'failed' || a === undefined) continue
      if (a.group !== '') groupSeen = true
      else if (a.candidate && m.record.role !== 'browser') candidates.push(m.peerId)
    }
    if (this.init.joining === true && !members.some(m => m.peerId !== this.peerId && m.status !== 'failed' && m.record.ext.raft !== undefined)) return
    if (!this.bootstrapWatch!.observe(now, candidates, groupSeen)) return
    void this.bootstrapGroup(this.bootstrapWatch!.founders(), candidates.length + 1)
  }

  /** founds a group with `founders` as its voters (this peer, the lowest of them, first) */
  private async bootstrapGroup (founders: string[], seen: number): Promise<void> {
    this.bootstrapping = true
    try {
      const group = `${this.peerId.slice(-6)}-${this.clock.now().toString(36)}`
      await this.meta!.put(GROUP_KEY, encoder.encode(group), { sync: true })
      this.group = group
      await this.driver.bootstrap({ voters: [...founders].sort(), learners: [] })
      this.log('bootstrapped group %s with voters %s (lowest of %d voter candidates)', group, founders.join(', '), seen)
      this.announce()
    } catch (err) {
      this.log.error('bootstrap failed: %s', describeError(err).message)
    } finally {
      this.bootstrapping = false
    }
  }

  private async autopilotRound (): Promise<void> {
    if (!this.started || this.stopping || this.autopilotBusy || this.init.autopilot === false) return
    const d = this.driverRef!
    if (d.status().role !== 'leader' || d.pendingConfChange) return
    this.autopilotBusy = true
    try {
      runAutopilot({
        driver: d,
        group: this.group,
        members: this.eligibleMembers(),
        tracking: this.tracking,
        now: this.clock.monotonic(),
        tabVoters: this.init.tabVoters === true,
        log: this.log
      })
    } finally {
      this.autopilotBusy = false
    }
  }

  private eligibleMembers (): Member[] {
    return eligibleMembers(this.components.network.members(), this.components.gate, this.group)
  }
}
