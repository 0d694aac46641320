/**
 * The Raft log's write-ahead log for Node (etcd's WAL, in our terms): a RaftLogBackend keeping
 * entries, hard state and compaction points as CRC-checked records appended to preallocated
 * segment files `<dir>/<16 hex seq>.wal`, each write one synchronous-data `write` (O_DSYNC: write
 * + fdatasync in one call; one per Ready: group commit). Snapshots (with the state machine's data) stay in the Store under `snap`, written
 * synced before the record that refers to them.
 *
 * Recovery replays the segments in order, each read in bounded chunks (segment-reader.ts), and
 * stops at the first torn record (short, bad CRC,
 * undecodable) of the LAST segment, zeroing it and everything after it; a torn record in any
 * earlier segment is corruption (StorageError). Each new segment opens with the hard state and the
 * compaction point, so whole segments whose entries are all compacted are released (deleted).
 * Once a segment is half full the next one is preallocated in the background (a `.wal.tmp` file,
 * as etcd's file pipeline), so a cut inside a Ready only writes the opening records and renames.
 *
 * Migration: when the directory holds no segment but the Store holds a LevelDB-era log, that log
 * is read once, written as the first segment, and its keys (except the snapshot) deleted.
 */
import { constants as fsConstants } from 'node:fs'
import { mkdir, open, readdir, rename, rm } from 'node:fs/promises'
import type { FileHandle } from 'node:fs/promises'
import { join } from 'node:path'
import { StorageError } from '../../errors.ts'
import type { AbortOptions } from '../../util/abort.ts'
import { componentLogger } from '../../util/logger.ts'
import type { Store } from '../../storage/types.ts'
import { prefixRange } from '../../storage/types.ts'
import { DurableRaftLog, loadView } from '../log-store.ts'
import type { DurableRaftLogInit, LogChange, Plan, RaftLogBackend, View } from '../log-store.ts'
import { ENTRY_KEY_PREFIX, HARD_STATE_KEY, LOG_START_KEY, SNAPSHOT_KEY, decodeSnapshot, encodeSnapshot } from '../log-store-codec.ts'
import { dummyEntry } from '../log-plan.ts'
import { entrySizeBytes } from '../raft/storage.ts'
import type { HardState, Snapshot } from '../raft/types.ts'
import { WAL_PREALLOCATE_CHUNK_BYTES, WAL_PREPARE_NEXT_AT_FILL_RATIO, WAL_REPLAY_CHUNK_BYTES, WAL_SEGMENT_BYTES, WAL_SEGMENT_SUFFIX, WAL_TEMP_SUFFIX } from './constants.ts'
import { encodeRecords } from './records.ts'
import { SegmentReader } from './segment-reader.ts'
import { ReplayState, trackSegments } from './replay.ts'
import type { SegmentInfo } from './replay.ts'

export { WAL_SEGMENT_BYTES } from './constants.ts'

const log = componentLogger('consensus:wal')

export interface WalOptions {
  /** segment size (default WAL_SEGMENT_BYTES) */
  segmentBytes?: number
  /** how a new segment is preallocated: writing zeros (default) or ftruncate (a sparse file) */
  preallocate?: 'zeros' | 'truncate'
  /** bytes of a segment read at a time when replaying it (default WAL_REPLAY_CHUNK_BYTES) */
  replayChunkBytes?: number
}

function storageError (what: string, err?: unknown): StorageError {
  log.error('%s', what)
  return new StorageError(what, err !== undefined ? { cause: err } : {})
}

/**
 * the segment being written is opened O_DSYNC: each write returns once its data is on disk, the
 * same guarantee as write + fdatasync in ONE system call (one trip through libuv's thread pool and
 * the event loop instead of two, which counts on a loaded machine)
 */
const DSYNC_FLAGS = fsConstants.O_RDWR | fsConstants.O_DSYNC

function segmentName (seq: number): string {
  return seq.toString(16).padStart(16, '0') + WAL_SEGMENT_SUFFIX
}

async function syncDir (dir: string): Promise<void> {
  const h = await open(dir, 'r')
  try { await h.sync() } finally { await h.close() }
}

/** records every segment opens with (openingRecords): a segment with more holds log data */
const OPENING_RECORD_COUNT = 3

/** what each segment opens with: enough to replay it without the segments before it */
function openingRecords (hardState: HardState, compactIndex: number, compactTerm: number, snapIndex: number, snapTerm: number): LogChange[] {
  return [
    { kind: 'hardState', hardState },
    { kind: 'compact', index: compactIndex, term: compactTerm },
    { kind: 'savedSnapshot', index: snapIndex, term: snapTerm }
  ]
}

/** writes zeros over [from, to) in chunks of at most WAL_PREALLOCATE_CHUNK_BYTES */
async function writeZeros (h: FileHandle, from: number, to: number): Promise<void> {
  const zeros = Buffer.alloc(Math.min(WAL_PREALLOCATE_CHUNK_BYTES, Math.max(1, to - from)))
  for (let at = from; at < to; at += zeros.byteLength) await h.write(zeros, 0, Math.min(zeros.byteLength, to - at), at)
}

export class WalBackend implements RaftLogBackend {
  readonly storeOps = false
  private readonly dir: string
  private readonly store: Store
  private readonly segmentBytes: number
  private readonly preallocate: 'zeros' | 'truncate'
  private readonly replayChunkBytes: number
  private segments: SegmentInfo[] = []
  private handle: FileHandle | undefined
  private offset = 0
  /** the last segment holds more than its opening records */
  private hasData = false
  private hardState: HardState = { term: 0, vote: '', commit: 0 }
  private compactIndex = 0
  private compactTerm = 0
  private snapIndex = 0
  private snapTerm = 0
  private failed: Error | undefined
  /** the next segment being preallocated in the background: its seq, and its temp path once ready */
  private spare: { seq: number, ready: Promise<string | undefined> } | undefined

  constructor (dir: string, store: Store, options: WalOptions = {}) {
    this.dir = dir
    this.store = store
    this.segmentBytes = options.segmentBytes ?? WAL_SEGMENT_BYTES
    this.preallocate = options.preallocate ?? 'zeros'
    this.replayChunkBytes = options.replayChunkBytes ?? WAL_REPLAY_CHUNK_BYTES
  }

  /** the segment files kept now (for tests and inspection) */
  segmentFiles (): string[] {
    return this.segments.map(s => s.path)
  }

  async load (): Promise<View | undefined> {
    try {
      await mkdir(this.dir, { recursive: true })
      const names = await readdir(this.dir)
      for (const n of names) if (n.endsWith(WAL_TEMP_SUFFIX)) await rm(join(this.dir, n), { force: true })
      const seqs = names.filter(n => /^[0-9a-f]{16}\.wal$/.test(n)).map(n => parseInt(n.slice(0, 16), 16)).sort((a, b) => a - b)
      if (seqs.length === 0) return await this.migrate()
      for (let k = 1; k < seqs.length; k++) {
        if (seqs[k] !== seqs[k - 1] + 1) throw storageError(`raft wal is corrupt: segment ${segmentName(seqs[k - 1] + 1)} is missing`)
      }
      return await this.replay(seqs)
    } catch (err) {
      if (err instanceof StorageError) throw err
      throw storageError(`raft wal open failed: ${err instanceof Error ? err.message : String(err)}`, err)
    }
  }

  async write (plan: Plan): Promise<void> {
    if (this.failed !== undefined) throw new StorageError(`raft wal failed earlier: ${this.failed.message}`, { cause: this.failed })
    try {
      if (plan.snapshotToStore !== undefined) await this.store.put(SNAPSHOT_KEY, encodeSnapshot(plan.snapshotToStore), { sync: true })
      if (plan.changes.length > 0) await this.append(plan.changes)
    } catch (err) {
      // what reached the file is unknown now (as etcd, we stop rather than guess)
      this.failed = err instanceof Error ? err : new Error(String(err))
      throw err instanceof StorageError ? err : storageError(`raft wal write failed: ${this.failed.message}`, err)
    }
  }

  async close (): Promise<void> {
    const h = this.handle
    this.handle = undefined
    this.failed ??= new Error('closed')
    // a spare being prepared finishes first (no file handle outlives close); load() removes it
    const spare = this.spare
    this.spare = undefined
    await spare?.ready
    await h?.close()
  }

  private async append (changes: LogChange[]): Promise<void> {
    const body = encodeRecords(changes)
    if (this.handle === undefined || (this.hasData && this.offset + body.byteLength > this.segmentBytes)) {
      await this.cut()
    }
    const h = this.handle!
    let written = 0
    while (written < body.byteLength) {
      const { bytesWritten } = await h.write(body, written, body.byteLength - written, this.offset + written)
      written += bytesWritten
    }
    this.offset += body.byteLength
    this.hasData = true
    if (this.spare === undefined && this.offset >= this.segmentBytes * WAL_PREPARE_NEXT_AT_FILL_RATIO) {
      this.prepareSpare(this.segments[this.segments.length - 1].seq + 1)
    }
    let released = false
    for (const c of changes) {
      trackSegments(this.segments, c)
      if (c.kind === 'hardState') this.hardState = c.hardState
      if (c.kind === 'snapshot' || c.kind === 'savedSnapshot') {
        this.snapIndex = c.index
        this.snapTerm = c.term
      }
      if (c.kind === 'compact' || c.kind === 'snapshot') {
        this.compactIndex = c.index
        this.compactTerm = c.term
        released = true
      }
    }
    if (released) await this.release()
  }

  /** starts a new preallocated segment opening with the hard state and the compaction point */
  private async cut (): Promise<void> {
    const seq = this.segments.length > 0 ? this.segments[this.segments.length - 1].seq + 1 : 0
    const path = join(this.dir, segmentName(seq))
    const started = performance.now()
    let temp = await this.takeSpare(seq)
    const fromSpare = temp !== undefined
    temp ??= await this.preallocateFile(seq)
    // opened O_DSYNC: the opening records are on disk when the write returns, and the handle
    // stays valid across the rename
    const h = await open(temp, DSYNC_FLAGS)
    try {
      const opening = encodeRecords(openingRecords(this.hardState, this.compactIndex, this.compactTerm, this.snapIndex, this.snapTerm))
      await h.write(opening, 0, opening.byteLength, 0)
      await rename(temp, path)
      await syncDir(this.dir)
      await this.handle?.close()
      this.handle = h
      this.offset = opening.byteLength
      this.hasData = false
      this.segments.push({ seq, path, maxIndex: 0 })
      log('cut segment %s in %d ms (%s)', path, Math.round(performance.now() - started), fromSpare ? 'preallocated in the background' : 'preallocated now')
    } catch (err) {
      await h.close().catch(() => {})
      await rm(temp, { force: true }).catch(() => {})
      throw err
    }
  }

  /** a temp file of segmentBytes for segment `seq`, zero-filled (or sparse) and synced */
  private async preallocateFile (seq: number): Promise<string> {
    const temp = join(this.dir, segmentName(seq).replace(WAL_SEGMENT_SUFFIX, WAL_TEMP_SUFFIX))
    const h = await open(temp, 'w+')
    try {
      if (this.preallocate === 'truncate') {
        await h.truncate(this.segmentBytes)
      } else {
        await writeZeros(h, 0, this.segmentBytes)
      }
      await h.datasync()
    } catch (err) {
      await h.close().catch(() => {})
      await rm(temp, { force: true }).catch(() => {})
      throw err
    }
    await h.close()
    return temp
  }

  /** starts preallocating segment `seq` in the background; a failure only means the cut does it */
  private prepareSpare (seq: number): void {
    const ready = this.preallocateFile(seq).then(temp => temp, (err: unknown) => {
      log('preparing the next wal segment failed (the cut will prepare it): %s', err instanceof Error ? err.message : String(err))
      return undefined
    })
    this.spare = { seq, ready }
  }

  /** the spare's temp path if it was prepared for `seq` (waiting for it to finish), else undefined */
  private async takeSpare (seq: number): Promise<string | undefined> {
    const spare = this.spare
    this.spare = undefined
    if (spare === undefined) return undefined
    const temp = await spare.ready
    if (temp === undefined) return undefined
    if (spare.seq !== seq) {
      await rm(temp, { force: true }).catch(() => {})
      return undefined
    }
    return temp
  }

  /** deletes the oldest segments whose live entries are all compacted (never the last one) */
  private async release (): Promise<void> {
    let n = 0
    while (n < this.segments.length - 1 && this.segments[n].maxIndex <= this.compactIndex) n++
    if (n === 0) return
    const gone = this.segments.splice(0, n)
    for (const s of gone) await rm(s.path, { force: true })
    await syncDir(this.dir)
    log('released %d segment(s) up to %s (compacted to %d)', n, gone[n - 1].path, this.compactIndex)
  }

  private async replay (seqs: number[]): Promise<View> {
    const state = new ReplayState()
    this.segments = []
    let end = 0
    let hasData = false
    for (let k = 0; k < seqs.length; k++) {
      const path = join(this.dir, segmentName(seqs[k]))
      this.segments.push({ seq: seqs[k], path, maxIndex: 0 })
      // read in chunks: a whole preallocated segment in one buffer is what a restart kept for long
      const h = await open(path, 'r')
      let at = 0
      let records = 0
      try {
        const reader = new SegmentReader(h, (await h.stat()).size, this.replayChunkBytes)
        while (true) {
          const r = await reader.read(at)
          if (r.kind === 'end') break
          if (r.kind === 'torn') {
            if (k < seqs.length - 1) throw storageError(`raft wal is corrupt: ${path} at ${at}: ${r.reason}`)
            log.error('raft wal: torn record in %s at %d (%s): dropping it and everything after it', path, at, r.reason)
            await this.zeroFrom(path, at, reader.fileBytes())
            break
          }
          state.apply(r.change)
          trackSegments(this.segments, r.change)
          records++
          at = r.next
        }
      } finally {
        await h.close()
      }
      end = at
      hasData = records > OPENING_RECORD_COUNT
    }
    if (state.problem !== undefined) throw storageError(`raft wal is corrupt: ${state.problem}`)
    if (state.ents.length > 0 && state.base !== state.compactIndex) {
      throw storageError(`raft wal is corrupt: entries start at ${state.base + 1}, the log at ${state.compactIndex + 1}`)
    }
    const last = this.segments[this.segments.length - 1]
    this.handle = await open(last.path, DSYNC_FLAGS)
    this.offset = end
    this.hasData = hasData
    if (end === 0) {
      // the whole last segment was torn: write its opening records again before anything else
      const opening = encodeRecords(openingRecords(state.hardState, state.compactIndex, state.compactTerm, state.snapIndex, state.snapTerm))
      await this.handle.write(opening, 0, opening.byteLength, 0)
      this.offset = opening.byteLength
    }
    this.hardState = state.hardState
    this.compactIndex = state.compactIndex
    this.compactTerm = state.compactTerm
    this.snapIndex = state.snapIndex
    this.snapTerm = state.snapTerm
    const view = await this.viewOf(state)
    await this.dropStoreLog()
    return view
  }

  /** the view, with the Store's snapshot; a snapshot newer than the log's records replaces the log */
  private async viewOf (state: ReplayState): Promise<View> {
    const snapBytes = await this.store.get(SNAPSHOT_KEY)
    let snap: Snapshot = { metadata: { index: 0, term: 0, confState: { voters: [], learners: [] } }, data: new Uint8Array(0) }
    if (snapBytes !== undefined) {
      try { snap = decodeSnapshot(snapBytes) } catch (err) { throw storageError('raft log snapshot is corrupt', err) }
    }
    let hardState = state.hardState
    let ents = [dummyEntry(state.compactIndex, state.compactTerm), ...state.ents]
    const s = snap.metadata
    if (s.index > state.compactIndex && (s.index !== state.snapIndex || s.term !== state.snapTerm)) {
      const k = s.index - state.compactIndex
      if (k >= ents.length || ents[k].term !== s.term) {
        // a crash between storing a snapshot and recording it: a received one replaces the log
        log('raft wal: snapshot at %d is newer than the log records; the log restarts from it', s.index)
        ents = [dummyEntry(s.index, s.term)]
        hardState = { ...hardState, commit: Math.max(hardState.commit, s.index) }
      }
    }
    let bytes = 0
    for (let k = 1; k < ents.length; k++) bytes += entrySizeBytes(ents[k])
    return { hardState, snap, ents, bytes }
  }

  private async zeroFrom (path: string, at: number, size: number): Promise<void> {
    const h = await open(path, 'r+')
    try {
      await writeZeros(h, at, size)
      await h.datasync()
    } finally {
      await h.close()
    }
  }

  /** a LevelDB-era log in the Store becomes the first segment; undefined when there is none */
  private async migrate (): Promise<View | undefined> {
    const view = await loadView(this.store)
    if (view === undefined) return undefined
    const changes: LogChange[] = [{ kind: 'compact', index: view.ents[0].index, term: view.ents[0].term }]
    if (view.ents.length > 1) changes.push({ kind: 'entries', entries: view.ents.slice(1) })
    changes.push({ kind: 'hardState', hardState: view.hardState })
    this.compactIndex = view.ents[0].index
    this.compactTerm = view.ents[0].term
    this.hardState = view.hardState
    await this.append(changes)
    await this.dropStoreLog()
    log('migrated the raft log from the store: entries %d..%d', view.ents[0].index + 1, view.ents[0].index + view.ents.length - 1)
    return view
  }

  /** deletes the Store's log keys (kept: the snapshot) once the WAL holds the log */
  private async dropStoreLog (): Promise<void> {
    if (await this.store.get(LOG_START_KEY) === undefined) return
    await this.store.clear(prefixRange(ENTRY_KEY_PREFIX))
    await this.store.batch([{ type: 'del', key: HARD_STATE_KEY }, { type: 'del', key: LOG_START_KEY }], { sync: true })
  }
}

/** opens the Raft log kept in a write-ahead log under `dir` (snapshots in `store`) */
export async function openWalLog (dir: string, store: Store, init: DurableRaftLogInit = {}, options: AbortOptions & WalOptions = {}): Promise<DurableRaftLog> {
  const backend = new WalBackend(dir, store, options)
  try {
    return await DurableRaftLog.openWith(backend, init, options)
  } catch (err) {
    await backend.close().catch(() => {})
    throw err
  }
}
