/**
 * The world of the Raft simulation: nodes, the simulated network and disk, the event loop, and
 * each node's driver (persist, send, apply, compact) with SafetyChecker verifying the invariants
 * after every step. A crash loses what was not synced: the Ready not yet handled, a commit index
 * written without fsync, or (crashAfterPersist) a Ready cut short after persisting, before its
 * messages were sent. Simulation (simulation.ts) adds the clients and the faults.
 */
import {
  ConfChangeType, EntryType, MemoryRaftStorage, RawNode, decodeConfChange
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

export const TICK_MS = 10
const silent: RaftLogger = { info: () => {}, warn: () => {} }
export interface SimNode {
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

export abstract class SimWorld {
  readonly rng: Rng
  readonly opts: Required<Omit<SimOptions, 'trace' | 'voters'>> & { voters: number }
  readonly nodes = new Map<string, SimNode>()
  readonly checker: SafetyChecker
  protected readonly queue = new EventQueue<SimNode>()
  protected readonly trace: ((line: string) => void) | undefined
  now = 0
  step = 0
  protected nextNodeNum = 1
  protected proposalSeq = 0
  protected groups = new Map<string, number>()
  /** a one-way partition: only messages from group 0 to group 1 are lost */
  protected oneWay = false
  protected chaos = true
  /** read context -> highest index applied anywhere when the read was issued */
  protected pendingReads = new Map<number, number>()
  protected readSeq = 0
  /** flow-control limits drawn per seed: tiny ones exercise probing, batching and the window */
  protected readonly maxSizePerMsg: number
  protected readonly maxInflightMsgs: number
  /** pre-vote and check-quorum are on by default; some seeds run without them (safety must not depend on them) */
  protected readonly preVote: boolean
  protected readonly checkQuorum: boolean
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

  protected log (line: string): void {
    if (this.trace !== undefined) this.trace(`[${this.step} t=${this.now}] ${line}`)
  }

  protected addNode (id: string, storage: MemoryRaftStorage): SimNode {
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

  protected start (node: SimNode): void {
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
  protected runOne (): void {
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

  protected deliver (node: SimNode, m: Message): void {
    if (node.raw === undefined) return
    if (!this.canTalk(m.from, m.to)) return
    node.raw.step(m)
    this.afterEvent(node)
  }

  protected afterEvent (node: SimNode): void {
    this.processReady(node)
    const raw = node.raw
    if (raw === undefined) return
    const r = raw.raft
    if (r.role === 'leader') {
      const log = r.raftLog
      this.checker.checkLeader(node.id, r.term, (i) => log.term(i), log.firstIndex(), log.lastIndex())
    }
  }

  protected send (m: Message): void {
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

  protected processReady (node: SimNode): void {
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

  protected maybeCompact (node: SimNode): void {
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

  protected crash (node: SimNode): void {
    this.log(`${node.id} crashes`)
    node.raw = undefined
    node.volatileHardState = undefined
    node.crashAfterPersist = false
    this.result.crashes++
  }

  protected canTalk (from: string, to: string): boolean {
    if (this.groups.size === 0) return true
    const gf = this.groups.get(from)
    const gt = this.groups.get(to)
    if (this.oneWay) return !(gf === 0 && gt === 1)
    return gf === gt
  }

  protected live (): SimNode[] {
    const out: SimNode[] = []
    for (const n of this.nodes.values()) if (n.raw !== undefined) out.push(n)
    return out
  }

  protected pick<T> (xs: T[]): T | undefined {
    return xs.length === 0 ? undefined : xs[this.rng.int(xs.length)]
  }

  protected leader (): SimNode | undefined {
    let best: SimNode | undefined
    for (const n of this.nodes.values()) {
      if (n.raw?.raft.role === 'leader' && (best === undefined || n.raw.raft.term > (best.raw?.raft.term ?? 0))) best = n
    }
    return best
  }

  /** one client or fault action (called on the chaos timer) */
  protected abstract doChaos (): void
}
