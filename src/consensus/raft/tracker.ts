/**
 * Membership (voters and learners), the per-peer Progress, the votes of an election, and the
 * majority rules over them. Membership changes one server at a time, so there is a single config.
 */
import { Progress } from './progress.ts'
import { ConfChangeType } from './types.ts'
import type { ConfChange, ConfState, NodeId } from './types.ts'

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

  /** resets membership and progress to cs; every peer is probed from nextIndex */
  restore (cs: ConfState, nextIndex: number): void {
    this.voters = new Set(cs.voters)
    this.learners = new Set(cs.learners)
    this.progress.clear()
    for (const id of cs.voters) this.progress.set(id, this.newProgress(nextIndex, false))
    for (const id of cs.learners) this.progress.set(id, this.newProgress(nextIndex, true))
  }

  private newProgress (next: number, learner: boolean): Progress {
    const pr = new Progress(next, this.maxInflight, learner)
    pr.recentActive = true
    return pr
  }

  /**
   * applies one single-server change. AddNode promotes a learner; AddLearner on a voter demotes
   * it; the last voter is never removed or demoted. New peers are probed from lastIndex.
   */
  applyConfChange (cc: ConfChange, lastIndex: number): void {
    const { voters, learners, progress } = this
    const id = cc.nodeId
    switch (cc.type) {
      case ConfChangeType.AddNode:
        if (learners.delete(id)) {
          voters.add(id)
          const pr = progress.get(id)
          if (pr !== undefined) pr.isLearner = false
        } else if (!voters.has(id)) {
          voters.add(id)
          progress.set(id, this.newProgress(Math.max(lastIndex, 1), false))
        }
        return
      case ConfChangeType.AddLearner:
        if (voters.has(id)) {
          if (voters.size === 1) return
          voters.delete(id)
          learners.add(id)
          const pr = progress.get(id)
          if (pr !== undefined) pr.isLearner = true
        } else if (!learners.has(id)) {
          learners.add(id)
          progress.set(id, this.newProgress(Math.max(lastIndex, 1), true))
        }
        return
      case ConfChangeType.RemoveNode:
        if (voters.has(id) && voters.size === 1) return
        voters.delete(id)
        learners.delete(id)
        progress.delete(id)
        this.votes.delete(id)
    }
  }
}
