/**
 * The ConsensusManager's part in its Raft group's membership: the group id (kept in the log's
 * `meta/` store), what this peer announces (its Raft role in its node record, `ext.raft = {
 * candidate, group }` for the bootstrap and autopilot decisions of others), founding a group from
 * nothing (bootstrap: the lowest voter candidate, once the set it sees has settled) and, while
 * this peer leads, keeping the voter set healthy (autopilot).
 */
import { NotStartedError, describeError } from '../errors.ts'
import type { Clock } from '../util/clock.ts'
import type { Logger } from '../util/logger.ts'
import { utf8Decoder } from '../util/utf8.ts'
import type { Store } from '../storage/types.ts'
import type { Member, RaftRole } from '../network/index.ts'
import { BootstrapWatch } from './autopilot.ts'
import type { RaftAnnouncement } from './autopilot.ts'
import { runAutopilot, trackPeers } from './autopilot-runner.ts'
import type { PeerTracking } from './autopilot-runner.ts'
import { eligibleMembers } from './consensus-gate.ts'
import type { ConsensusManagerComponents, ConsensusManagerInit, ConsensusRole } from './consensus-types.ts'
import { BOOTSTRAP_EXPECT } from './constants.ts'
import type { RaftDriver } from './driver.ts'

const GROUP_KEY = 'group'
const encoder = new TextEncoder()

/** what the group side reads of its manager */
export interface ConsensusGroupHost {
  readonly peerId: string
  readonly clock: Clock
  readonly log: Logger
  readonly components: ConsensusManagerComponents
  readonly init: ConsensusManagerInit
  /** the manager is started */
  started: () => boolean
  /** stop() is under way (handing leadership off): no membership change starts */
  stopping: () => boolean
  /** the driver (undefined before start) */
  driver: () => RaftDriver | undefined
  /** this peer's consensus role changed */
  roleChanged: (role: ConsensusRole) => void
}

/** this peer's role in its group as `d` sees it: none, learner, or its Raft role as a voter */
export function consensusRole (d: RaftDriver | undefined): ConsensusRole {
  if (d === undefined || !d.isMember) return 'none'
  if (!d.isVoter) return 'learner'
  return d.rawNode.raft.role
}

export class ConsensusGroup {
  private readonly host: ConsensusGroupHost
  private meta: Store | undefined
  private groupId = ''
  private bootstrapWatch: BootstrapWatch | undefined
  private bootstrapping = false
  private autopilotBusy = false
  private readonly tracking: PeerTracking
  private announced = ''
  private lastRole: ConsensusRole = 'none'

  constructor (host: ConsensusGroupHost) {
    this.host = host
    this.tracking = { peers: new Map(), since: host.clock.monotonic() }
  }

  /** the group's id ('' while this peer is in none) */
  get id (): string {
    return this.groupId
  }

  /** reads the group id this peer recorded in `meta` (its log's meta store) */
  async load (meta: Store): Promise<void> {
    this.meta = meta
    const stored = await meta.get(GROUP_KEY)
    this.groupId = stored !== undefined ? utf8Decoder.decode(stored) : ''
  }

  /** the driver runs: from now on the candidates seen are watched for a bootstrap */
  watch (now: number): void {
    this.bootstrapWatch = new BootstrapWatch(this.host.peerId, this.host.init.bootstrapExpect ?? BOOTSTRAP_EXPECT, now)
  }

  get candidate (): boolean {
    return this.host.init.voter !== false
  }

  announce (): void {
    if (!this.host.started()) return
    const role = consensusRole(this.host.driver())
    const raftRole: RaftRole = role === 'none' ? 'none' : role === 'learner' ? 'learner' : 'voter'
    this.host.components.network.setRaftRole(raftRole)
    const a: RaftAnnouncement = { candidate: this.candidate, group: this.groupId }
    const key = JSON.stringify(a)
    if (key !== this.announced) {
      this.announced = key
      this.host.components.network.setExtension('raft', a)
    }
    if (role !== this.lastRole) {
      this.lastRole = role
      this.host.roleChanged(role)
    }
  }

  async adoptGroup (groupId: string): Promise<void> {
    if (this.groupId !== '' || groupId === '') return
    this.groupId = groupId
    this.host.log('joined group %s', groupId)
    try {
      await this.meta?.put(GROUP_KEY, encoder.encode(groupId), { sync: true })
    } catch (err) {
      this.host.log.error('cannot record the group id: %s', describeError(err).message)
    }
    this.announce()
  }

  /** runs every BOOTSTRAP_CHECK_MS: peer tracking, and bootstrapping while this peer has no log */
  maintain (): void {
    if (!this.host.started()) return
    const now = this.host.clock.monotonic()
    const members = this.eligibleMembers()
    trackPeers(this.tracking, members, now)
    const d = this.host.driver()!
    if (d.log.lastIndex() > 0 || this.bootstrapping || !this.candidate || d.failure !== undefined) return
    const candidates: string[] = []
    let groupSeen = false
    for (const m of members) {
      const a = m.record.ext.raft as RaftAnnouncement | undefined
      if (m.status === 'failed' || a === undefined) continue
      if (a.group !== '') groupSeen = true
      else if (a.candidate && m.record.role !== 'browser') candidates.push(m.peerId)
    }
    if (this.host.init.joining === true && !members.some(m => m.peerId !== this.host.peerId && m.status !== 'failed' && m.record.ext.raft !== undefined)) return
    if (!this.bootstrapWatch!.observe(now, candidates, groupSeen)) return
    void this.bootstrapGroup(this.bootstrapWatch!.founders(), candidates.length + 1)
  }

  /** founds a group with `founders` as its voters (this peer, the lowest of them, first) */
  private async bootstrapGroup (founders: string[], seen: number): Promise<void> {
    this.bootstrapping = true
    try {
      const group = `${this.host.peerId.slice(-6)}-${this.host.clock.now().toString(36)}`
      await this.meta!.put(GROUP_KEY, encoder.encode(group), { sync: true })
      this.groupId = group
      await this.runningDriver().bootstrap({ voters: [...founders].sort(), learners: [] })
      this.host.log('bootstrapped group %s with voters %s (lowest of %d voter candidates)', group, founders.join(', '), seen)
      this.announce()
    } catch (err) {
      this.host.log.error('bootstrap failed: %s', describeError(err).message)
    } finally {
      this.bootstrapping = false
    }
  }

  async autopilotRound (): Promise<void> {
    if (!this.host.started() || this.host.stopping() || this.autopilotBusy || this.host.init.autopilot === false) return
    const d = this.host.driver()!
    if (d.status().role !== 'leader' || d.pendingConfChange) return
    this.autopilotBusy = true
    try {
      runAutopilot({
        driver: d,
        group: this.groupId,
        members: this.eligibleMembers(),
        tracking: this.tracking,
        now: this.host.clock.monotonic(),
        tabVoters: this.host.init.tabVoters === true,
        log: this.host.log
      })
    } finally {
      this.autopilotBusy = false
    }
  }

  /** the driver while the manager runs (NotStartedError, as the manager's, otherwise) */
  private runningDriver (): RaftDriver {
    const d = this.host.driver()
    if (d === undefined || !this.host.started()) throw new NotStartedError('consensus is not started')
    return d
  }

  private eligibleMembers (): Member[] {
    return eligibleMembers(this.host.components.network.members(), this.host.components.gate, this.groupId)
  }
}
