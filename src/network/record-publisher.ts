/**
 * What this peer says about itself on the nodes topic, beat by beat: its full signed record when
 * the record changed, when someone asked for it (or a peer joined), and every refresh interval; a
 * small signed heartbeat otherwise; and, before either, a request for the records of peers whose
 * heartbeats named records this peer lacks (each asked for at most every RECORD_WANT_RETRY_MS).
 */
import type { PrivateKey } from '@libp2p/interface'
import type { Clock } from '../util/clock.ts'
import { MAX_WANTED_SUBJECTS, RECORD_REFRESH_INTERVAL_MS, RECORD_WANT_RETRY_MS } from './constants.ts'
import { encodeMembershipMessage, MembershipMessageType } from './record-codec.ts'
import type { Heartbeat, Load, NodeRecord } from './types.ts'

export interface RecordPublisherInit {
  peerId: string
  incarnation: number
  privateKey: PrivateKey
  clock: Clock
  /** the record as of now, but for its counters and load */
  describe: () => Omit<NodeRecord, 'seq' | 'ts' | 'load'>
  load: () => Load
  /** publishes bytes on the nodes topic */
  publish: (bytes: Uint8Array) => Promise<void>
  refreshMs?: number
  log?: (format: string, ...args: unknown[]) => void
}

export class RecordPublisher {
  private readonly init: RecordPublisherInit
  /** one counter for records and heartbeats: every message is newer than all before it */
  private seq = 0
  private last: NodeRecord | undefined
  /** seq and fingerprint of the last full record published, and when (monotonic) */
  private recordSeq = 0
  private fingerprint = ''
  private publishedAt = Number.NEGATIVE_INFINITY
  private recordWanted = false
  /** records this peer lacks, asked for on the next beat; when each was last asked for (monotonic) */
  private readonly wanted = new Set<string>()
  private readonly wantedAt = new Map<string, number>()

  constructor (init: RecordPublisherInit) {
    this.init = init
  }

  /** what this peer last said about itself (the last record with the last heartbeat's load), or its record as of now */
  current (): NodeRecord {
    return this.last ?? this.build(this.seq + 1, this.init.load())
  }

  /** the next beat carries the full record (someone asked for it, or a peer joined that lacks it) */
  recordRequested (): void {
    this.recordWanted = true
  }

  /** a heartbeat of `peerId` named a record we do not hold: ask for it on the next beat */
  want (peerId: string): void {
    if (peerId !== this.init.peerId && this.wanted.size < 4 * MAX_WANTED_SUBJECTS) this.wanted.add(peerId)
  }

  /** signs and publishes the full record now */
  async publishRecord (load: Load = this.init.load()): Promise<NodeRecord> {
    const record = this.build(++this.seq, load)
    this.last = record
    this.recordSeq = record.seq
    this.fingerprint = recordFingerprint(record)
    this.publishedAt = this.init.clock.monotonic()
    this.recordWanted = false
    await this.init.publish(await encodeMembershipMessage({ type: MembershipMessageType.Record, record }, this.init.privateKey))
    return record
  }

  /** one beat: asks for records we lack, then publishes the record if due, else a heartbeat */
  async beat (): Promise<void> {
    const requested = this.requestWanted()
    const now = this.init.clock.monotonic()
    const refreshDue = now - this.publishedAt >= (this.init.refreshMs ?? RECORD_REFRESH_INTERVAL_MS)
    // the load is read once a beat (the process's resident memory is not free to read)
    const load = this.init.load()
    const published = this.recordWanted || refreshDue || recordFingerprint(this.build(this.seq + 1, load)) !== this.fingerprint
      ? this.publishRecord(load)
      : this.publishHeartbeat(load)
    await Promise.all([requested, published])
  }

  private build (seq: number, load: Load): NodeRecord {
    return { ...this.init.describe(), load, seq, ts: this.init.clock.now() }
  }

  private async publishHeartbeat (load: Load): Promise<void> {
    const heartbeat: Heartbeat = { peerId: this.init.peerId, incarnation: this.init.incarnation, seq: ++this.seq, recordSeq: this.recordSeq, ts: this.init.clock.now(), load }
    if (this.last != null) this.last = { ...this.last, load, seq: heartbeat.seq, ts: heartbeat.ts }
    await this.init.publish(await encodeMembershipMessage({ type: MembershipMessageType.Heartbeat, heartbeat }, this.init.privateKey))
  }

  private async requestWanted (): Promise<void> {
    const now = this.init.clock.monotonic()
    for (const [id, at] of this.wantedAt) if (now - at >= RECORD_WANT_RETRY_MS) this.wantedAt.delete(id)
    if (this.wanted.size === 0) return
    const subjects: string[] = []
    for (const id of this.wanted) {
      if (subjects.length >= MAX_WANTED_SUBJECTS) break
      this.wanted.delete(id)
      if (this.wantedAt.has(id)) continue
      this.wantedAt.set(id, now)
      subjects.push(id)
    }
    if (subjects.length === 0) return
    this.init.log?.('asking for the records of %s', subjects.join(', '))
    await this.init.publish(await encodeMembershipMessage({ type: MembershipMessageType.Wanted, subjects }, this.init.privateKey))
  }
}

/** what makes a record worth republishing in full: everything but the counters and the moving load figures */
export function recordFingerprint (r: NodeRecord): string {
  return JSON.stringify([r.role, r.raft, r.addrs, r.capabilities, r.links, r.hidden, r.heartbeatMs, r.version, r.ext, r.load.agents])
}
