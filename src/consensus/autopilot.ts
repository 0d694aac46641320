/**
 * Group formation and the voter autopilot, as pure decisions over a view of the mesh (the
 * ConsensusManager builds the view from NetworkManager's membership and the Raft status, and
 * carries out what is decided).
 *
 * Bootstrap: a peer with no log that is a voter candidate bootstraps a group only when no peer it
 * sees announces a group, it has the lowest peer id among the groupless voter candidates it sees,
 * that set has been unchanged for BOOTSTRAP_SETTLE_MS, and either it holds at least `expect`
 * candidates or BOOTSTRAP_WAIT_MS have passed since start. It founds the group with the
 * BOOTSTRAP_FOUNDERS lowest of that set as voters (alone when it sees fewer), so a group born among
 * three candidates has three voters from its first entry, never two. Everyone else waits: the other
 * founders vote for it (a founder with an empty log votes like any follower) and learn that they
 * are voters from its snapshot, the rest are added by the autopilot. (Two groups can only form if
 * two sets of peers cannot hear each other for the whole settle window at birth, since only the
 * lowest candidate a peer sees may found a group; a peer then refuses the other group's streams and
 * the health check reports it. A founded group of three elects a leader only with a second
 * founder's vote.)
 *
 * Autopilot (on the leader, one membership change at a time): replace a voter failed for longer
 * than the grace period by promoting a caught-up learner, then remove the failed one; remove
 * voters beyond the target only when they are down beyond the grace or not eligible; promote
 * caught-up, stable, eligible learners (Node peers before tabs; tabs never by default) while below
 * the target (3, or 5 with at least 5 stable eligible peers), from an odd voter count only when two
 * can be promoted (1 -> 3 back to back, never resting at 2); add peers that run consensus as
 * learners; drop learners gone for long.
 */
import {
  AUTOPILOT_CATCHUP_ENTRIES, AUTOPILOT_LARGE_GROUP_PEERS, AUTOPILOT_LEARNER_GRACE_MS, AUTOPILOT_MAX_LEARNERS,
  AUTOPILOT_STABLE_MS, AUTOPILOT_VOTER_GRACE_MS, AUTOPILOT_VOTERS, AUTOPILOT_VOTERS_LARGE,
  BOOTSTRAP_FOUNDERS, BOOTSTRAP_SETTLE_MS, BOOTSTRAP_WAIT_MS
} from './constants.ts'

/** what a peer announces in its record's `ext.raft` */
export interface RaftAnnouncement {
  /** wants to be a voter */
  candidate: boolean
  /** the group it belongs to ('' before it has one) */
  group: string
}

export interface AutopilotPeer {
  id: string
  /** 'relay' | 'node' | 'browser' */
  role: string
  hidden: boolean
  /** alive or suspect now */
  up: boolean
  /** ms it has been up without a break (0 when down) */
  upForMs: number
  /** ms it has been down (failed, or gone from the membership); 0 when up */
  downForMs: number
  /** what it announces; undefined when it does not run consensus */
  raft?: RaftAnnouncement
}

export interface AutopilotView {
  self: string
  group: string
  voters: string[]
  learners: string[]
  /** every other peer known, members of the group or not */
  peers: Map<string, AutopilotPeer>
  /** replication progress per member (leader's view) */
  progress: Record<string, { match: number, recentActive: boolean }>
  commit: number
  /** let tabs vote (default false) */
  tabVoters?: boolean
}

export type AutopilotAction =
  | { kind: 'add-learner' | 'promote' | 'remove', peer: string, reason: string }
  | { kind: 'transfer', peer: string, reason: string }

/** may vote at all: a candidate, not a hidden tab, not a tab unless tabs may vote (up or not) */
function votable (p: AutopilotPeer | undefined, tabVoters: boolean): boolean {
  if (p === undefined || p.raft?.candidate !== true || p.hidden) return false
  return tabVoters || p.role !== 'browser'
}

/** may vote now: votable and up */
function eligible (p: AutopilotPeer | undefined, tabVoters: boolean): boolean {
  return p !== undefined && p.up && votable(p, tabVoters)
}

/** Node peers before tabs, then the longest up, then by id */
function preference (a: AutopilotPeer, b: AutopilotPeer): number {
  const tab = (p: AutopilotPeer): number => p.role === 'browser' ? 1 : 0
  return tab(a) - tab(b) || b.upForMs - a.upForMs || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)
}

/** the voter count wanted: 5 with enough stable eligible peers, else 3 */
export function voterTarget (view: AutopilotView): number {
  let stable = 1 // the leader itself
  for (const p of view.peers.values()) {
    const group = p.raft?.group ?? ''
    if (group !== '' && group !== view.group) continue
    if (eligible(p, view.tabVoters === true) && p.upForMs >= AUTOPILOT_STABLE_MS) stable++
  }
  return stable >= AUTOPILOT_LARGE_GROUP_PEERS ? AUTOPILOT_VOTERS_LARGE : AUTOPILOT_VOTERS
}

/** the one membership change to make now, if any */
export function planAutopilot (view: AutopilotView): AutopilotAction | undefined {
  const tabVoters = view.tabVoters === true
  const voters = view.voters
  const learners = view.learners
  const peer = (id: string): AutopilotPeer | undefined => view.peers.get(id)
  const downFor = (id: string): number => id === view.self ? 0 : (peer(id)?.downForMs ?? Number.POSITIVE_INFINITY)
  // a learner that has acknowledged nothing yet (no snapshot installed) is not caught up, however
  // short the log: a new group's commit index is below AUTOPILOT_CATCHUP_ENTRIES, and one added a
  // moment ago was promoted before it had even joined (seen at load 25: a voter that joined 10 s later)
  const caughtUp = (id: string): boolean => {
    const pr = view.progress[id]
    return pr !== undefined && pr.recentActive && pr.match > 0 && pr.match + AUTOPILOT_CATCHUP_ENTRIES >= view.commit
  }
  const target = voterTarget(view)
  const promotable = learners
    .map(peer)
    .filter((p): p is AutopilotPeer => p !== undefined && eligible(p, tabVoters) && p.upForMs >= AUTOPILOT_STABLE_MS && caughtUp(p.id))
    .sort(preference)
  const failedVoters = voters.filter(v => downFor(v) >= AUTOPILOT_VOTER_GRACE_MS)

  // 1. a voter failed for long: bring in a replacement first (removal follows as step 2)
  if (failedVoters.length > 0 && voters.length <= target && promotable.length > 0) {
    return { kind: 'promote', peer: promotable[0].id, reason: `replaces ${failedVoters[0]}, failed for ${Math.round(downFor(failedVoters[0]) / 1000)} s` }
  }
  // 2. more voters than wanted: remove one that is down for long or not eligible
  if (voters.length > target) {
    const victims = voters
      .filter(v => downFor(v) >= AUTOPILOT_VOTER_GRACE_MS || (v !== view.self && peer(v) !== undefined && !votable(peer(v), tabVoters)))
      .sort((a, b) => downFor(b) - downFor(a) || (a < b ? -1 : 1))
    if (victims.length > 0) {
      return { kind: 'remove', peer: victims[0], reason: `${voters.length} voters, ${target} wanted; ${victims[0]} is ${downFor(victims[0]) > 0 ? 'down' : 'not eligible'}` }
    }
  }
  // 3. fewer voters than wanted: from an odd count only when two learners can be promoted, so the
  // group goes 1 -> 3 (3 -> 5) back to back instead of sitting at an even count, whose quorum is
  // no easier to lose than the odd one below it (two voters: either one lost stops the group)
  if (voters.length < target && promotable.length >= (voters.length % 2 === 1 && voters.length + 1 < target ? 2 : 1)) {
    return { kind: 'promote', peer: promotable[0].id, reason: `${voters.length} voters, ${target} wanted` }
  }
  // 4. peers running consensus outside the group join as learners
  if (learners.length < AUTOPILOT_MAX_LEARNERS) {
    const joiners = [...view.peers.values()]
      .filter(p => p.up && p.raft !== undefined && (p.raft.group === '' || p.raft.group === view.group) &&
        !voters.includes(p.id) && !learners.includes(p.id))
      .sort(preference)
    if (joiners.length > 0) return { kind: 'add-learner', peer: joiners[0].id, reason: 'runs consensus outside the group' }
  }
  // 5. learners gone for long leave
  for (const l of learners) {
    if (downFor(l) >= AUTOPILOT_LEARNER_GRACE_MS) return { kind: 'remove', peer: l, reason: `learner down for ${Math.round(downFor(l) / 1000)} s` }
    const a = peer(l)?.raft
    if (a !== undefined && a.group !== '' && a.group !== view.group) return { kind: 'remove', peer: l, reason: `learner belongs to group ${a.group}` }
  }
  return undefined
}

/**
 * Watches the voter candidates a groupless peer sees and says when it should bootstrap a group.
 * `observe` is called periodically with what the peer sees now.
 */
export class BootstrapWatch {
  private readonly self: string
  private readonly expect: number
  private readonly startedAt: number
  /** the candidate set (this peer included), sorted, as last observed */
  private set: string[] = []
  private lastChangeAt: number

  constructor (self: string, expect: number, now: number) {
    this.self = self
    this.expect = expect
    this.startedAt = now
    this.lastChangeAt = now
  }

  /**
   * `candidates`: peer ids (besides self) that are up, candidates and groupless; `groupSeen`: some
   * peer announces a group. True when this peer should bootstrap now (with `founders()`).
   */
  observe (now: number, candidates: string[], groupSeen: boolean): boolean {
    const set = [...new Set([this.self, ...candidates])].sort()
    if (set.length !== this.set.length || set.some((id, i) => id !== this.set[i])) {
      this.lastChangeAt = now
      this.set = set
    }
    if (groupSeen) return false
    if (set[0] !== this.self) return false
    if (now - this.lastChangeAt < BOOTSTRAP_SETTLE_MS) return false
    return set.length >= this.expect || now - this.startedAt >= BOOTSTRAP_WAIT_MS
  }

  /**
   * the voters to found the group with, once observe() said so: the BOOTSTRAP_FOUNDERS lowest ids
   * of the settled candidate set (this peer, the lowest, among them), or this peer alone when
   * fewer are seen (never two: a group of two has no quorum once either is lost)
   */
  founders (): string[] {
    return this.set.length >= BOOTSTRAP_FOUNDERS ? this.set.slice(0, BOOTSTRAP_FOUNDERS) : [this.self]
  }
}
