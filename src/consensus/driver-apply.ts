/**
 * The applying half of the Raft driver: the KV state machine and the membership it holds, the
 * committed entries and snapshots applied to them (in log order, each once), and the periodic
 * snapshot + compaction of the durable log. The driver (driver.ts) decides WHEN to apply — as soon
 * as entries are committed, while this peer's own write of them may still run — and this decides HOW.
 */
import { describeError } from '../errors.ts'
import type { Logger } from '../util/logger.ts'
import { COMPACT_KEEP_ENTRIES, SNAPSHOT_EVERY_BYTES, SNAPSHOT_EVERY_ENTRIES } from './constants.ts'
import type { DriverRequests } from './driver-requests.ts'
import { requestIdOf } from './driver-requests.ts'
import type { DriverHooks } from './driver-types.ts'
import { KvStateMachine, decodeCommand } from './kv/index.ts'
import type { KvCommand } from './kv/index.ts'
import type { DurableRaftLog } from './log-store.ts'
import { EntryType, decodeConfChange } from './raft/index.ts'
import type { ConfChange, ConfState, Entry, RawNode, Snapshot } from './raft/index.ts'

const EMPTY = new Uint8Array(0)

/** what applying committed entries early reads from Raft's log */
export interface CommittedLog {
  readonly committed: number
  firstIndex: () => number
  slice: (lo: number, hi: number, maxSize: number) => Entry[]
}

export interface DriverApplierInit {
  log: DurableRaftLog
  logger: Logger
  hooks: DriverHooks
  requests: DriverRequests
  /** the RawNode now (it is rebuilt on bootstrap) */
  raw: () => RawNode
  snapshotEveryEntries?: number
  compactKeepEntries?: number
}

export class DriverApplier {
  sm = new KvStateMachine()
  confState: ConfState = { voters: [], learners: [] }
  /** group of the member that sent the snapshot being installed */
  snapshotGroup = ''
  private readonly init: DriverApplierInit

  constructor (init: DriverApplierInit) {
    this.init = init
  }

  /** a fresh state machine restored from the log's snapshot, and the log's membership */
  restoreFromLog (): void {
    const snap = this.init.log.snapshot()
    this.sm = new KvStateMachine()
    if (snap.data.byteLength > 0) this.sm.restore(snap.data)
    this.confState = this.init.log.initialState().confState
  }

  /**
   * While a Ready's batch is being written, entries committed in the meantime (an append response
   * on the leader, the leader's commit index on a follower) are applied at once, durable here yet
   * or not (a commit index rests on durable copies of a majority): their callers need not wait for
   * that fsync and the next Ready. The next Ready hands them over again and applyEntries skips
   * them. Stops before a membership change, which goes through the Ready in order. False when
   * there was nothing it could apply.
   */
  applyCommitted (raftLog: CommittedLog): boolean {
    const from = this.sm.appliedIndex + 1
    const to = raftLog.committed
    if (to < from || from < raftLog.firstIndex()) return false
    let ents: Entry[]
    try {
      ents = raftLog.slice(from, to + 1, Infinity)
    } catch {
      return false
    }
    const cc = ents.findIndex(e => e.type === EntryType.ConfChange)
    this.applyEntries(cc < 0 ? ents : ents.slice(0, cc))
    return true
  }

  installSnapshot (snap: Snapshot): void {
    const sm = new KvStateMachine()
    if (snap.data.byteLength > 0) sm.restore(snap.data)
    this.sm = sm
    this.confState = { voters: [...snap.metadata.confState.voters], learners: [...snap.metadata.confState.learners] }
    this.init.logger('installed snapshot at index %d', snap.metadata.index)
    this.init.hooks.snapshotInstalled?.(this.snapshotGroup)
    this.init.hooks.confChanged?.(this.confState)
    this.init.requests.snapshotInstalled(sm)
  }

  applyEntries (entries: Entry[]): void {
    for (const e of entries) {
      // applied already while a batch was being written (applyCommitted)
      if (e.index <= this.sm.appliedIndex) continue
      if (e.type === EntryType.ConfChange) {
        this.sm.applyEncoded(e.index, EMPTY)
        let cc: ConfChange
        try {
          cc = decodeConfChange(e.data)
        } catch (err) {
          this.init.logger.error('unreadable conf change at index %d: %s', e.index, describeError(err).message)
          continue
        }
        this.confState = this.init.raw().applyConfChange(cc)
        this.init.hooks.confChanged?.(this.confState)
        continue
      }
      if (e.data.byteLength === 0) { this.sm.applyEncoded(e.index, EMPTY); continue }
      let cmd: KvCommand
      try {
        cmd = decodeCommand(e.data)
      } catch {
        this.sm.applyEncoded(e.index, e.data)
        continue
      }
      const result = this.sm.apply(e.index, cmd)
      const requestId = requestIdOf(cmd)
      if (requestId !== undefined) this.init.requests.applied(requestId, result)
      else this.init.hooks.applied?.(cmd, e.term, result)
    }
  }

  /** snapshots the state machine and compacts the log once enough was applied since the last one */
  async maybeSnapshot (): Promise<void> {
    const log = this.init.log
    const applied = this.sm.appliedIndex
    const snapIndex = log.snapshot().metadata.index
    if (applied <= snapIndex) return
    // entries committed by the followers' copies may be applied before this peer's own write of
    // them ends (applyCommitted): a snapshot waits until the log here holds its index
    if (applied > log.lastIndex()) return
    const byBytes = log.cachedBytes() >= SNAPSHOT_EVERY_BYTES
    if (!byBytes && applied - snapIndex < (this.init.snapshotEveryEntries ?? SNAPSHOT_EVERY_ENTRIES)) return
    await log.createSnapshot(applied, this.confState, this.sm.snapshot())
    const compactTo = byBytes ? applied : applied - (this.init.compactKeepEntries ?? COMPACT_KEEP_ENTRIES)
    if (compactTo >= log.firstIndex()) await log.compact(compactTo)
    this.init.logger('snapshot at index %d, log compacted to %d', applied, Math.max(compactTo, log.firstIndex() - 1))
  }
}
