/**
 * Deterministic simulation of a Raft group: N RawNodes in one process over a simulated network
 * and disk, everything drawn from one seed. The network drops, delays, duplicates and reorders
 * messages and partitions the group; nodes crash (losing what was not synced: the unpersisted
 * Ready, a commit index written without fsync, and optionally a Ready cut short after persisting)
 * and restart from what their disk holds; clients propose, read and change membership. After
 * every step SafetyChecker verifies the invariants. A failure names its seed: replay with SEED=n.
 */
import {
  ConfChangeType, EntryType, MemoryRaftStorage, ProposalDroppedError, RawNode, decodeConfChange
} from '../../../src/consensus/raft/index.ts'
import type { ConfState, HardState, Message, RaftLogger } from '../../../src/consensus/raft/index.ts'
import { seededRng } from '../../../src/util/prng.ts'
import type { Rng } from '../../../src/util/prng.ts'
import { EV_CHAOS, EV_DELIVER, EV_SNAP_STATUS, EV_TICK, EventQueue } from './sim-events.ts'
import { InvariantViolation, SafetyChecker, decodeStateMachine, encodeStateMachine } from './sim-checker.ts'
import type { SimStateMachine } from './sim-checker.ts'

export interface SimOptions {
  seed: number
  /** events to simulate (message deliveries, ticks, client and fault actions) */
  steps: number
  /** initial voters; default 3 or 5 from the seed */
  voters?: number
  /** probability that a message is lost / delivered twice */
  dropRate?: number
  dupRate?: number
  /** end with every fault healed and check that the group commits again */
  checkLiveness?: boolean
  trace?: (line: string) => void
}

export interface SimResult {
  seed: number
  steps: number
  leadersElected: number
  committed: number
  crashes: number
  partitions: number
  confChanges: number
  snapshotsSent: number
  reads: number
}

const TICK_MS = 10
const silent: RaftLogger = { info: () => {}, warn: () => {} }
interface SimNode {
  id: string
  raw: RawNode | undefined
  storage: MemoryRaftStorage
  /** a commit-only hard state written without fsync: lost in a crash */
  volatileHardState: HardState | undefined
  sm: SimStateMachine
  confState: ConfState
  removed: boolean
  /** crash right after persisting the next Ready, before sending or applying it */
  crashAfterPersist: boolean
}

export class Simulation {
  readonly rng: Rng
  readonly opts: Required<Omit<SimOptions, 'trace' | 'voters'>> & { voters: number }
  readonly nodes = new Map<string, SimNode>()
  readonly checker: SafetyChecker
  private readonly queue = new EventQueue<SimNode>()
  private readonly trace: ((line: string) => void) | undefined
  now = 0
  step = 0
  private nextNodeNum = 1
  private proposalSeq = 0
  private groups = new Map<string, number>()
  /** a one-way partition: only messages from group 0 to group 1 are lost */
  private oneWay = false
  private chaos = true
  /** read context -> highest index applied anywhere when the read was issued */
  private pendingReads = new Map<number, number>()
  private readSeq = 0
  /** flow-control limits drawn per seed: tiny ones exercise probing, batching and the window */
  private readonly maxSizePerMsg: number
  private readonly maxInflightMsgs: number
  /** pre-vote and check-quorum are on by default; some seeds run without them (safety must not depend on them) */
  private readonly preVote: boolean
  private readonly checkQuorum: boolean
  readonly result: SimResult

  constructor (options: SimOptions) {
    this.rng = seededRng(options.seed)
    this.opts = {
      seed: options.seed,
      steps: options.steps,
      voters: options.voters ?? (this.rng.int(2) === 0 ? 3 : 5),
      dropRate: options.dropRate ?? 0.02,
      dupRate: options.dupRate ?? 0.01,
      checkLiveness: options.checkLiveness ?? true
    }
    this.trace = options.trace
    this.maxSizePerMsg = [1, 100, 1 << 20][this.rng.int(3)]
    this.maxInflightMsgs = [1, 4, 256][this.rng.int(3)]
    this.preVote = this.rng.next() < 0.8
    this.checkQuorum = this.rng.next() < 0.8
    this.result = { seed: options.seed, steps: 0, leadersElected: 0, committed: 0, crashes: 0, partitions: 0, confChanges: 0, snapshotsSent: 0, reads: 0 }
    this.checker = new SafetyChecker(1, 1)
    const ids = Array.from({ length: this.opts.voters }, () => `n${this.nextNodeNum++}`)
    for (const id of ids) this.addNode(id, MemoryRaftStorage.bootstrap({ voters: ids, learners: [] }))
    this.queue.push(this.rng.int(50), EV_CHAOS, undefined, undefined)
  }

  private log (line: string): void {
    if (this.trace !== undefined) this.trace(`[${this.step} t=${this.now}] ${line}`)
  }

  private addNode (id: string, storage: MemoryRaftStorage): SimNode {
    const snap = storage.snapshot()
    const node: SimNode = {
      id, raw: undefined, storage, volatileHardState: undefined, sm: decodeStateMachine(snap),
      confState: snap.metadata.confState, removed: false, crashAfterPersist: false
    }
    this.nodes.set(id, node)
    this.start(node)
    // each node ticks on its own phase
    this.queue.push(this.now + 1 + this.rng.int(TICK_MS), EV_TICK, node, undefined)
    return node
  }

  private start (node: SimNode): void {
    const snap = node.storage.snapshot()
    node.sm = decodeStateMachine(snap)
    node.confState = snap.metadata.confState
    node.raw = new RawNode({
      id: node.id,
      storage: node.storage,
      rng: this.rng,
      applied: snap.metadata.index,
      maxSizePerMsg: this.maxSizePerMsg,
      maxInflightMsgs: this.maxInflightMsgs,
      preVote: this.preVote,
      checkQuorum: this.checkQuorum,
      logger: silent
    })
  }

  /** runs the simulation; throws InvariantViolation (with the seed) on the first broken invariant */
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

  private runOne (): void {
    const ev = this.queue.pop()
    if (ev === undefined) throw new Error('event queue ran dry')
    this.step++
    this.now = ev.time
    if (ev.kind === EV_DELIVER) {
      this.deliver(ev.node as SimNode, ev.msg as Message)
    } else if (ev.kind === EV_TICK) {
      const node = ev.node as SimNode
      if (!node.removed) this.queue.push(this.now + TICK_MS, EV_TICK, node, undefined)
      if (node.raw !== undefined) {
        node.raw.tick()
        this.afterEvent(node)
      }
    } else if (ev.kind === EV_SNAP_STATUS) {
      const node = ev.node as SimNode
      const m = ev.msg as Message
      // only the incarnation that sent it hears back
      if (node.raw !== undefined && node.raw.raft.term === m.term) {
        node.raw.reportSnapshot(m.to, ev.ok)
        this.afterEvent(node)
      }
    } else {
      if (this.chaos) this.doChaos()
      this.queue.push(this.now + 1 + this.rng.int(this.chaos ? 12 : 30), EV_CHAOS, undefined, undefined)
    }
  }

  private deliver (node: SimNode, m: Message): void {
    if (node.raw === undefined) return
    if (!this.canTalk(m.from, m.to)) return
    node.raw.step(m)
    this.afterEvent(node)
  }

  private afterEvent (node: SimNode): void {
    this.processReady(node)
    const raw = node.raw
    if (raw === undefined) return
    const r = raw.raft
    if (r.role === 'leader') {
      const log = r.raftLog
      this.checker.checkLeader(node.id, r.term, (i) => log.term(i), log.firstIndex(), log.lastIndex())
    }
  }

  private send (m: Message): void {
    const to = this.nodes.get(m.to)
    if (to === undefined) return
    const rng = this.rng
    const from = m.snapshot !== undefined ? this.nodes.get(m.from) : undefined
    if (rng.next() < this.opts.dropRate) {
      if (from !== undefined) this.queue.push(this.now + 5 + rng.int(20), EV_SNAP_STATUS, from, m, false)
      return
    }
    const delay = rng.next() < 0.9 ? 1 + rng.int(5) : 5 + rng.int(40)
    this.queue.push(this.now + delay, EV_DELIVER, to, m)
    if (from !== undefined) this.queue.push(this.now + delay + 1 + rng.int(5), EV_SNAP_STATUS, from, m, this.canTalk(m.from, m.to))
    if (rng.next() < this.opts.dupRate) this.queue.push(this.now + 1 + rng.int(30), EV_DELIVER, to, m)
  }

  private processReady (node: SimNode): void {
    for (let guard = 0; guard < 100; guard++) {
      const raw = node.raw
      if (raw === undefined || !raw.hasReady()) return
      const rd = raw.ready()
      const st = node.storage
      // persist: snapshot, entries and hard state are fsynced when mustSync
      if (rd.snapshot !== undefined) {
        st.applySnapshot(rd.snapshot)
        node.sm = this.checker.checkSnapshot(node.id, rd.snapshot)
        node.confState = rd.snapshot.metadata.confState
      }
      if (rd.entries.length > 0) {
        st.append(rd.entries)
        for (const e of rd.entries) this.checker.checkAppended(e, st.term(e.index - 1))
      }
      const hs = rd.hardState ?? node.volatileHardState
      if (rd.mustSync) {
        if (hs !== undefined) st.setHardState(hs)
        node.volatileHardState = undefined
      } else if (rd.hardState !== undefined) {
        node.volatileHardState = rd.hardState
      }
      if (node.crashAfterPersist) {
        this.crash(node)
        return
      }
      for (const m of rd.messages) {
        if (m.snapshot !== undefined) this.result.snapshotsSent++
        this.send(m)
      }
      for (const rs of rd.readStates) {
        const ctx = new DataView(rs.requestCtx.buffer, rs.requestCtx.byteOffset).getUint32(0)
        const min = this.pendingReads.get(ctx)
        if (min !== undefined && rs.index < min) {
          throw new InvariantViolation(`${node.id} read ${ctx} at index ${rs.index}, but ${min} was applied before the read was issued`)
        }
        this.result.reads++
      }
      for (const e of rd.committedEntries) {
        node.sm = this.checker.checkApplied(node.id, node.sm, e)
        if (e.type === EntryType.ConfChange) {
          const cc = decodeConfChange(e.data)
          node.confState = raw.applyConfChange(cc)
          if (cc.type === ConfChangeType.RemoveNode && cc.nodeId === node.id) node.removed = true
        }
      }
      raw.advance()
      if (node.removed) {
        this.log(`${node.id} applied its own removal and shuts down`)
        node.raw = undefined
        return
      }
      this.maybeCompact(node)
    }
    throw new Error(`${node.id} kept producing Readies`)
  }

  private maybeCompact (node: SimNode): void {
    const st = node.storage
    const applied = node.sm.index
    if (applied - st.firstIndex() < 40 || this.rng.next() < 0.8) return
    // the snapshot is a durable write: it flushes the unsynced hard state with it
    if (node.volatileHardState !== undefined) {
      st.setHardState(node.volatileHardState)
      node.volatileHardState = undefined
    }
    if (applied > st.snapshot().metadata.index) st.createSnapshot(applied, node.confState, encodeStateMachine(node.sm))
    const compactTo = applied - this.rng.int(10)
    if (compactTo >= st.firstIndex()) st.compact(compactTo)
  }

  private crash (node: SimNode): void {
    this.log(`${node.id} crashes`)
    node.raw = undefined
    node.volatileHardState = undefined
    node.crashAfterPersist = false
    this.result.crashes++
  }

  private canTalk (from: string, to: string): boolean {
    if (this.groups.size === 0) return true
    const gf = this.groups.get(from)
    const gt = this.groups.get(to)
    if (this.oneWay) return !(gf === 0 && gt === 1)
    return gf === gt
  }

  private live (): SimNode[] {
    const out: SimNode[] = []
    for (const n of this.nodes.values()) if (n.raw !== undefined) out.push(n)
    return out
  }

  private pick<T> (xs: T[]): T | undefined {
    return xs.length === 0 ? undefined : xs[this.rng.int(xs.length)]
  }

  private leader (): SimNode | undefined {
    let best: SimNode | undefined
    for (const n of this.nodes.values()) {
      if (n.raw?.raft.role === 'leader' && (best === undefined || n.raw.raft.term > (best.raw?.raft.term ?? 0))) best = n
    }
    return best
  }

  private doChaos (): void {
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
