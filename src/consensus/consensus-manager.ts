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
 * Beside it: its contract types (consensus-types.ts), its group membership — the group id, what it
 * announces, bootstrap and autopilot (consensus-group.ts) —, the driver and transport it runs
 * (consensus-driver.ts), what credentials decide (consensus-gate.ts), lease expiry on the leader
 * (lease-expiry.ts) and its health check (consensus-health.ts).
 */
import { TypedEventEmitter } from 'main-event'
import { NoQuorumError, NotFoundError, NotStartedError, UnauthorizedError } from '../errors.ts'
import { combineSignals, throwIfAborted } from '../util/abort.ts'
import type { AbortOptions } from '../util/abort.ts'
import { systemClock } from '../util/clock.ts'
import type { Clock, TimerHandle } from '../util/clock.ts'
import { componentLogger } from '../util/logger.ts'
import { changeCommand, outcomeOf } from './changes.ts'
import { openConsensusDriver } from './consensus-driver.ts'
import { ConsensusGroup, consensusRole } from './consensus-group.ts'
import { consensusHealth } from './consensus-health.ts'
import type {
  ConsensusEvents, ConsensusManagerComponents, ConsensusManagerInit, ConsensusRaftTransport, ConsensusRole, ConsensusStatus
} from './consensus-types.ts'
import type { ConsensusChange, ProposalOutcome } from './changes.ts'
import { AUTOPILOT_INTERVAL_MS, BOOTSTRAP_CHECK_MS, DEFAULT_OPERATION_TIMEOUT_MS, LEASE_EXPIRY_CHECK_MS, MAX_REMEMBERED_OUTCOMES } from './constants.ts'
import type { RaftDriver } from './driver.ts'
import { ConsensusKv } from './kv.ts'
import { DurableRaftLog } from './log-store.ts'
import { LeaseExpiry } from './lease-expiry.ts'
import { createConsensusMetrics } from './metrics.ts'
import type { StrongOperation } from './raft-wire.ts'
import { ReceivedRefusals } from './refusals.ts'
import { anchoredLeaseClock } from './lease-time.ts'

export type {
  ConsensusEvents, ConsensusManagerComponents, ConsensusManagerInit, ConsensusNetwork, ConsensusRaftTransport, ConsensusRole, ConsensusStatus
} from './consensus-types.ts'

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
  private started = false
  private timers: TimerHandle[] = []
  /** stop() is under way (handing leadership off): no membership change starts */
  private stopping = false
  private readonly leaseExpiry: LeaseExpiry
  /** the group id, announcements, bootstrap and autopilot */
  private readonly group: ConsensusGroup
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
    this.group = new ConsensusGroup({
      peerId: this.peerId,
      clock: this.clock,
      log: this.log,
      components,
      init,
      started: () => this.started,
      stopping: () => this.stopping,
      driver: () => this.driverRef,
      roleChanged: (role) => { this.safeDispatchEvent('role:changed', { detail: { role } }) }
    })
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
    return this.group.candidate
  }

  async start (options: AbortOptions = {}): Promise<void> {
    if (this.started) return
    throwIfAborted(options.signal)
    const raftStore = this.components.store.sub('raft/')
    await this.group.load(raftStore.sub('meta/'))
    const log = this.components.openLog !== undefined
      ? await this.components.openLog(raftStore.sub('log/'), options)
      : await DurableRaftLog.open(raftStore.sub('log/'), {}, options)
    const clock = this.clock
    let driver: RaftDriver
    try {
      ({ driver, transport: this.transport } = await openConsensusDriver({
        peerId: this.peerId,
        log,
        clock,
        leaseClock: this.leaseClock,
        components: this.components,
        init: this.init,
        metrics: this.metrics,
        refusals: this.refusals,
        leaseExpiry: this.leaseExpiry,
        group: this.group,
        events: this
      }))
      this.driverRef = driver
    } catch (err) {
      // a start that fails leaves nothing open (openConsensusDriver closed the log)
      this.transport = undefined
      this.driverRef = undefined
      throw err
    }
    this.started = true
    this.stopping = false
    driver.start()
    this.group.watch(clock.monotonic())
    this.timers.push(clock.setInterval(() => { this.group.maintain() }, BOOTSTRAP_CHECK_MS))
    this.timers.push(clock.setInterval(() => { void this.group.autopilotRound() }, AUTOPILOT_INTERVAL_MS))
    this.timers.push(clock.setInterval(() => { if (this.started) this.leaseExpiry.check(this.driverRef!) }, LEASE_EXPIRY_CHECK_MS))
    this.components.telemetry?.registerHealthCheck('consensus', () => consensusHealth(this.started ? this.driverRef : undefined, this.role(), this.peerId, this.group.id), { critical: false })
    this.group.announce()
    this.log('started: group %s, log up to %d', this.group.id === '' ? '(none)' : this.group.id, log.lastIndex())
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
      group: this.group.id,
      snapshotIndex: d.log.snapshot().metadata.index
    }
  }

  private role (): ConsensusRole {
    return consensusRole(this.driverRef)
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
}
