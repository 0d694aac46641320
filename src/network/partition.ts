/**
 * Partition awareness: which members this peer reaches, directly (an open connection) or through
 * others (the links in the records it receives), and whether its side holds a majority of the Raft
 * voters. `assessPartition` is the pure judgement; `PartitionDetector` runs it on a timer, settles
 * a change for a moment before believing it (a record arrives every heartbeat, so a single late one
 * must not flip the verdict), and reports transitions.
 */
import { PARTITION_CHECK_INTERVAL_MS, PARTITION_SETTLE_MS } from './constants.ts'
import type { Clock, TimerHandle } from '../util/clock.ts'
import type { Member, PartitionStatus } from './types.ts'

export interface PartitionInput {
  selfId: string
  /** peers this peer holds an open connection to */
  directLinks: readonly string[]
  members: readonly Member[]
  /** the Raft voters as this peer knows them (empty: no group yet) */
  voters: readonly string[]
}

/**
 * A member is reachable when a path of links leads to it from this peer, through members that are
 * not failed (a failed member's last record says nothing about now). A member whose records still
 * arrive (alive) is reachable too: gossip only travels over connections, so some path exists.
 */
export function assessPartition (input: PartitionInput): PartitionStatus {
  const usable = new Map<string, Member>()
  for (const m of input.members) if (m.status !== 'failed') usable.set(m.peerId, m)
  const adjacent = new Map<string, Set<string>>()
  const link = (a: string, b: string): void => {
    if (a === b) return
    let s = adjacent.get(a)
    if (s === undefined) adjacent.set(a, s = new Set())
    s.add(b)
    let t = adjacent.get(b)
    if (t === undefined) adjacent.set(b, t = new Set())
    t.add(a)
  }
  for (const peer of input.directLinks) link(input.selfId, peer)
  for (const m of usable.values()) {
    for (const l of m.record.links) {
      if (l.peer === input.selfId || usable.has(l.peer)) link(m.peerId, l.peer)
    }
  }
  const reachable = new Set<string>([input.selfId])
  const queue = [input.selfId]
  for (const m of usable.values()) {
    if (m.status === 'alive' && !reachable.has(m.peerId)) { reachable.add(m.peerId); queue.push(m.peerId) }
  }
  while (queue.length > 0) {
    const at = queue.pop()!
    for (const next of adjacent.get(at) ?? []) {
      // only members (or this peer) count as reachable: a link to a peer that is not a member
      // (failed, or never heard of) is no evidence that it is up
      if (reachable.has(next) || !usable.has(next)) continue
      reachable.add(next)
      queue.push(next)
    }
  }
  const voters = [...new Set(input.voters)].sort()
  // a voter never heard of (this peer just started) is no evidence either way: it is counted as in
  // reach, so a fresh start does not look like a partition; a known one out of reach is evidence
  const known = new Set(input.members.map(m => m.peerId))
  const unreachableVoters = voters.filter(v => !reachable.has(v) && known.has(v))
  const majority = voters.length === 0 || (voters.length - unreachableVoters.length) * 2 > voters.length
  return {
    partitioned: !majority || unreachableVoters.length > 0,
    reachable: [...reachable].sort(),
    majority,
    direct: [...new Set(input.directLinks)].filter(p => p !== input.selfId).sort(),
    voters,
    unreachableVoters
  }
}

export interface PartitionDetectorInit {
  clock: Clock
  /** the facts, read at each check */
  read: () => PartitionInput
  /** called with the new settled status when `partitioned` or `majority` changes */
  onChange: (status: PartitionStatus, previous: PartitionStatus) => void
  checkIntervalMs?: number
  /** a changed verdict must hold this long before it is reported (default PARTITION_SETTLE_MS) */
  settleMs?: number
}

/** the verdict's identity: what flips events and health */
function verdictOf (s: PartitionStatus): string {
  return `${s.partitioned ? 'p' : '-'}${s.majority ? 'm' : '-'}`
}

export class PartitionDetector {
  private readonly init: PartitionDetectorInit
  private timer: TimerHandle | undefined
  private settled: PartitionStatus
  /** monotonic time the latest verdict, different from the settled one, was first seen */
  private pendingSince: number | undefined

  constructor (init: PartitionDetectorInit) {
    this.init = init
    const empty: PartitionStatus = { partitioned: false, reachable: [], majority: true, direct: [], voters: [], unreachableVoters: [] }
    this.settled = empty
  }

  start (): void {
    if (this.timer !== undefined) return
    this.settled = assessPartition(this.init.read())
    this.timer = this.init.clock.setInterval(() => { this.check() }, this.init.checkIntervalMs ?? PARTITION_CHECK_INTERVAL_MS)
  }

  stop (): void {
    this.init.clock.clearInterval(this.timer)
    this.timer = undefined
    this.pendingSince = undefined
  }

  /**
   * the settled status: while the verdict holds it is refreshed at every check; a new verdict
   * (and the lists that go with it) shows only once it has held for the settle time
   */
  status (): PartitionStatus {
    return this.settled
  }

  /** re-reads the facts now; reports a verdict that has held for the settle time */
  check (): void {
    const now = this.init.clock.monotonic()
    const latest = assessPartition(this.init.read())
    if (verdictOf(latest) === verdictOf(this.settled)) {
      this.pendingSince = undefined
      this.settled = latest
      return
    }
    this.pendingSince ??= now
    if (now - this.pendingSince < (this.init.settleMs ?? PARTITION_SETTLE_MS)) return
    const previous = this.settled
    this.settled = latest
    this.pendingSince = undefined
    this.init.onChange(latest, previous)
  }
}

/**
 * The `partition` health component: degraded on the minority side (strong operations fail there),
 * ok on the majority side even with some voter out of reach (the detail names them).
 */
export function partitionHealth (s: PartitionStatus): { status: 'ok' | 'degraded', detail?: string, partitioned: boolean, majority: boolean, reachable: number, voters: number } {
  const facts = { partitioned: s.partitioned, majority: s.majority, reachable: s.reachable.length, voters: s.voters.length }
  if (!s.majority) {
    return { status: 'degraded', detail: `minority side: ${s.voters.length - s.unreachableVoters.length} of ${s.voters.length} raft voters in reach; strong operations fail with NoQuorumError`, ...facts }
  }
  if (s.partitioned) return { status: 'ok', detail: `majority side; out of reach: ${s.unreachableVoters.join(', ')}`, ...facts }
  return { status: 'ok', ...facts }
}
