/**
 * Deterministic simulation of a Raft group: N RawNodes in one process over a simulated network
 * and disk (sim-world.ts), everything drawn from one seed. This part is the chaos: clients
 * propose, read and change membership; the network drops, delays, duplicates and reorders
 * messages and partitions the group (both ways or one way); nodes crash (losing what was not
 * synced) and restart from their disk. The run ends with every fault healed and checks that the
 * group commits again. A failure names its seed: replay with SEED=n.
 */
import { ConfChangeType, MemoryRaftStorage, ProposalDroppedError } from '../../../src/consensus/raft/index.ts'
import { InvariantViolation } from './sim-checker.ts'
import { SimWorld } from './sim-world.ts'
import type { SimNode, SimOptions, SimResult } from './sim-world.ts'

export type { SimOptions, SimResult } from './sim-world.ts'

export class Simulation extends SimWorld {
  run (): SimResult {
    try {
      const chaosSteps = this.opts.checkLiveness ? Math.floor(this.opts.steps * 0.9) : this.opts.steps
      while (this.step < chaosSteps) this.runOne()
      if (this.opts.checkLiveness) this.settle()
    } catch (err) {
      if (err instanceof InvariantViolation) {
        err.message = `seed ${this.opts.seed} (replay with SEED=${this.opts.seed}), step ${this.step}: ${err.message}`
      }
      throw err
    }
    this.result.steps = this.step
    this.result.leadersElected = this.checker.leadersElected
    this.result.committed = this.checker.maxApplied
    return this.result
  }

  protected doChaos (): void {
    const r = this.rng.next()
    if (r < 0.55) this.propose()
    else if (r < 0.62) this.read()
    else if (r < 0.655) this.crashOrRestart()
    else if (r < 0.675) this.partitionOrHeal()
    else if (r < 0.69) this.changeMembership()
    else if (r < 0.695) this.transferLeadership()
  }

  private propose (): void {
    const n = this.pick(this.live())
    if (n === undefined) return
    const data = new Uint8Array(8)
    new DataView(data.buffer).setFloat64(0, ++this.proposalSeq)
    try {
      n.raw?.propose(data)
      this.afterEvent(n)
    } catch (err) {
      if (!(err instanceof ProposalDroppedError)) throw err
    }
  }

  private read (): void {
    const n = this.pick(this.live())
    if (n === undefined) return
    const ctxNum = ++this.readSeq
    const ctx = new Uint8Array(4)
    new DataView(ctx.buffer).setUint32(0, ctxNum)
    this.pendingReads.set(ctxNum, this.checker.maxApplied)
    try {
      n.raw?.readIndex(ctx)
      this.afterEvent(n)
    } catch (err) {
      if (!(err instanceof ProposalDroppedError)) throw err
    }
  }

  private crashOrRestart (): void {
    const down = [...this.nodes.values()].filter(n => n.raw === undefined && !n.removed)
    if (down.length > 0 && this.rng.next() < 0.6) {
      const n = this.pick(down) as SimNode
      this.log(`${n.id} restarts`)
      this.start(n)
      this.afterEvent(n)
      return
    }
    const n = this.pick(this.live())
    if (n === undefined) return
    if (this.rng.next() < 0.3) n.crashAfterPersist = true
    else this.crash(n)
  }

  private partitionOrHeal (): void {
    if (this.groups.size > 0 || this.rng.next() < 0.3) {
      if (this.groups.size > 0) this.log('heal')
      this.groups.clear()
      return
    }
    this.result.partitions++
    this.oneWay = this.rng.next() < 0.3
    for (const n of this.nodes.values()) this.groups.set(n.id, this.rng.int(2))
    this.log(`${this.oneWay ? 'one-way ' : ''}partition ${[...this.groups].map(([id, g]) => `${id}:${g}`).join(' ')}`)
  }

  private changeMembership (): void {
    const l = this.leader()
    if (l?.raw === undefined) return
    const { voters, learners } = l.raw.raft.prs
    const r = this.rng.next()
    let cc: { type: ConfChangeType, nodeId: string } | undefined
    if (learners.size > 0 && voters.size < 5 && r < 0.5) {
      cc = { type: ConfChangeType.AddNode, nodeId: this.pick([...learners]) as string }
    } else if (voters.size + learners.size < 6 && r < 0.8) {
      // a new node (fresh id, empty disk) joins as a learner
      const id = `n${this.nextNodeNum++}`
      this.addNode(id, new MemoryRaftStorage())
      cc = { type: ConfChangeType.AddLearner, nodeId: id }
    } else if (voters.size > 3) {
      cc = { type: ConfChangeType.RemoveNode, nodeId: this.pick([...voters]) as string }
    } else if (learners.size > 0) {
      cc = { type: ConfChangeType.RemoveNode, nodeId: this.pick([...learners]) as string }
    }
    if (cc === undefined) return
    this.log(`${l.id} proposes conf change ${cc.type} ${cc.nodeId}`)
    try {
      l.raw.proposeConfChange(cc)
      this.result.confChanges++
      this.afterEvent(l)
    } catch (err) {
      if (!(err instanceof ProposalDroppedError)) throw err
    }
  }

  private transferLeadership (): void {
    const l = this.leader()
    if (l?.raw === undefined) return
    const to = this.pick([...l.raw.raft.prs.voters].filter(id => id !== l.id))
    if (to === undefined) return
    this.log(`${l.id} transfers leadership to ${to}`)
    l.raw.transferLeader(to)
    this.afterEvent(l)
  }

  /** stops the chaos, heals and restarts everything, and checks that the group commits again */
  private settle (): void {
    this.chaos = false
    this.groups.clear()
    for (const n of this.nodes.values()) {
      n.crashAfterPersist = false
      if (n.raw === undefined && !n.removed) {
        this.start(n)
        this.afterEvent(n)
      }
    }
    const deadline = this.step + 40_000
    let marker = -1
    let proposedAt = 0
    while (this.step < deadline) {
      this.runOne()
      if (this.step % 64 !== 0) continue
      const l = this.leader()
      if (l?.raw === undefined) continue
      const { voters, learners } = l.raw.raft.prs
      // nodes outside the leader's configuration were removed (or never joined): decommission
      // them, as an operator would, so a removed node that missed its removal cannot campaign
      const settled = l.raw.raft.raftLog.applied === l.raw.raft.raftLog.lastIndex() // no conf change in flight
      for (const n of this.nodes.values()) {
        if (settled && n.raw !== undefined && !voters.has(n.id) && !learners.has(n.id)) {
          n.raw = undefined
          n.removed = true
        }
      }
      if (marker !== -1 && [...voters, ...learners].every(id => (this.nodes.get(id)?.sm.index ?? 0) >= marker)) return
      // (re)propose a marker entry; one proposed earlier may have been lost with its leader
      if (marker === -1 || this.step - proposedAt > 4000) {
        try {
          l.raw.propose(new Uint8Array([0xff]))
          marker = l.raw.raft.raftLog.lastIndex()
          proposedAt = this.step
          this.afterEvent(l)
        } catch (err) {
          if (!(err instanceof ProposalDroppedError)) throw err
        }
      }
    }
    throw new InvariantViolation(`no progress: the healed group did not apply a new entry everywhere within 40000 steps (marker ${marker})`)
  }
}

export function runSimulation (options: SimOptions): SimResult {
  return new Simulation(options).run()
}
