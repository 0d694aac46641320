/**
 * Membership (voters and learners), the per-peer Progress, the votes of an election, and the
 * majority rules over them. Membership changes one server at a time, so there is a single config.
 */
import { Progress } from './progress.ts'
import type { ConfState, NodeId } from './types.ts'

export const enum VoteResult {
  Pending = 0,
  Lost = 1,
  Won = 2
}

export class ProgressTracker {
  voters = new Set<NodeId>()
  learners = new Set<NodeId>()
  readonly progress = new Map<NodeId, Progress>()
  readonly votes = new Map<NodeId, boolean>()
  readonly maxInflight: number
  /** scratch array for committed(), kept to avoid an allocation per acknowledgement */
  private matchScratch: number[] = []

  constructor (maxInflight: number) {
    this.maxInflight = maxInflight
  }

  confState (): ConfState {
    return { voters: [...this.voters].sort(), learners: [...this.learners].sort() }
  }

  isSingleton (): boolean {
    return this.voters.size === 1
  }

  quorum (): number {
    return (this.voters.size >> 1) + 1
  }

  /** the largest index replicated on a majority of voters (0 with no voters) */
  committed (): number {
    const n = this.voters.size
    if (n === 0) return 0
    const arr = this.matchScratch
    arr.length = 0
    for (const id of this.voters) arr.push(this.progress.get(id)?.match ?? 0)
    // insertion sort, descending: groups are small
    for (let i = 1; i < n; i++) {
      const v = arr[i]
      let j = i - 1
      while (j >= 0 && arr[j] < v) { arr[j + 1] = arr[j]; j-- }
      arr[j + 1] = v
    }
    return arr[this.quorum() - 1]
  }

  resetVotes (): void {
    this.votes.clear()
  }

  recordVote (id: NodeId, granted: boolean): void {
    if (!this.votes.has(id)) this.votes.set(id, granted)
  }

  tallyVotes (): { granted: number, rejected: number, result: VoteResult } {
    let granted = 0
    let rejected = 0
    for (const id of this.voters) {
      const v = this.votes.get(id)
      if (v === true) granted++
      else if (v === false) rejected++
    }
    const q = this.quorum()
    const result = granted >= q ? VoteResult.Won : rejected > this.voters.size - q ? VoteResult.Lost : VoteResult.Pending
    return { granted, rejected, result }
  }

  /** whether a quorum of voters was recently active (the leader `self` always counts) */
  quorumActive (self: NodeId): boolean {
    let active = 0
    for (const id of this.voters) {
      if (id === self || this.progress.get(id)?.recentActive === true) active++
    }
    return active >= this.quorum()
  }

  isVoter (id: NodeId): boolean {
    return this.voters.has(id)
  }
}
