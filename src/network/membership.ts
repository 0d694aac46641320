/**
 * The membership view and failure detector, as a pure table driven by the caller's clock:
 * records arrive (heartbeats), connections close, obituaries and leaves arrive, and `check(now)`
 * turns silence into suspect and then failed. It returns the transitions; NetworkManager turns
 * them into events. No timers or network in here, so it is tested with plain numbers.
 */
import {
  FAIL_AFTER_BEATS, FAILED_RETENTION_MS, MIN_FAIL_AFTER_MS, MIN_SUSPECT_AFTER_MS, SUSPECT_AFTER_BEATS
} from './constants.ts'
import type { Heartbeat, Member, MemberStatus, NodeRecord } from './types.ts'

export type Transition =
  | { kind: 'joined', member: Member }
  | { kind: 'updated', member: Member }
  | { kind: 'suspect', member: Member, reason: string }
  | { kind: 'failed', member: Member, reason: string }
  | { kind: 'recovered', member: Member }

export interface MembershipTableInit {
  selfId: string
  suspectAfterBeats?: number
  failAfterBeats?: number
}

export class MembershipTable {
  private readonly members = new Map<string, Member>()
  /** the seq of the full record held for each member (member.record.seq is the latest heard, heartbeats included) */
  private readonly recordSeqs = new Map<string, number>()
  private readonly selfId: string
  private readonly suspectAfterBeats: number
  private readonly failAfterBeats: number

  constructor (init: MembershipTableInit) {
    this.selfId = init.selfId
    this.suspectAfterBeats = init.suspectAfterBeats ?? SUSPECT_AFTER_BEATS
    this.failAfterBeats = init.failAfterBeats ?? FAIL_AFTER_BEATS
  }

  get (peerId: string): Member | undefined {
    return this.members.get(peerId)
  }

  list (): Member[] {
    return [...this.members.values()]
  }

  /**
   * A full record arrived at local time `now`. One older than the record held (same incarnation) is
   * ignored; one older than the latest heartbeat heard but newer than the record held is taken, with
   * the heartbeat's newer seq and load kept.
   */
  onRecord (record: NodeRecord, now: number): Transition[] {
    if (record.peerId === this.selfId) return []
    const known = this.members.get(record.peerId)
    if (known == null) {
      const member: Member = { peerId: record.peerId, status: 'alive', record, lastSeen: now }
      this.members.set(record.peerId, member)
      this.recordSeqs.set(record.peerId, record.seq)
      return [{ kind: 'joined', member }]
    }
    if (record.incarnation < known.record.incarnation) return []
    const restarted = record.incarnation > known.record.incarnation
    if (!restarted && record.seq <= (this.recordSeqs.get(record.peerId) ?? -1)) return []
    const previous = known.status
    const changed = restarted || fingerprint(record) !== fingerprint(known.record)
    const heardNewer = !restarted && known.record.seq > record.seq
    known.record = heardNewer ? { ...record, seq: known.record.seq, ts: known.record.ts, load: known.record.load } : record
    this.recordSeqs.set(record.peerId, record.seq)
    known.lastSeen = Math.max(known.lastSeen, now)
    if (previous !== 'alive') {
      known.status = 'alive'
      delete known.reason
      return [{ kind: 'recovered', member: known }]
    }
    return changed ? [{ kind: 'updated', member: known }] : []
  }

  /**
   * A heartbeat arrived at local time `now`: the peer is alive and this is its load. `wantRecord`
   * says the heartbeat refers to a record this table does not hold (an unknown peer, a restart, or a
   * newer record than ours): the caller asks the peer for it. A heartbeat alone never adds a member.
   */
  onHeartbeat (hb: Heartbeat, now: number): { transitions: Transition[], wantRecord: boolean } {
    if (hb.peerId === this.selfId) return { transitions: [], wantRecord: false }
    const known = this.members.get(hb.peerId)
    if (known == null || hb.incarnation > known.record.incarnation) return { transitions: [], wantRecord: true }
    if (hb.incarnation < known.record.incarnation || hb.seq <= known.record.seq) return { transitions: [], wantRecord: false }
    known.record = { ...known.record, seq: hb.seq, ts: hb.ts, load: hb.load }
    known.lastSeen = now
    const wantRecord = hb.recordSeq > (this.recordSeqs.get(hb.peerId) ?? -1)
    if (known.status !== 'alive') {
      known.status = 'alive'
      delete known.reason
      return { transitions: [{ kind: 'recovered', member: known }], wantRecord }
    }
    return { transitions: [], wantRecord }
  }

  /** The peer's last connection to us closed: suspect it until a probe or a heartbeat settles it. */
  onDisconnect (peerId: string): Transition[] {
    const m = this.members.get(peerId)
    if (m == null || m.status !== 'alive') return []
    return [this.setStatus(m, 'suspect', 'connection closed')]
  }

  /** A probe or a clean leave proved the peer gone. */
  markFailed (peerId: string, reason: string): Transition[] {
    const m = this.members.get(peerId)
    if (m == null || m.status === 'failed') return []
    return [this.setStatus(m, 'failed', reason)]
  }

  /** A probe reached the peer: clear a suspicion raised by a closed connection. */
  markReachable (peerId: string, now: number): Transition[] {
    const m = this.members.get(peerId)
    if (m == null || m.status === 'alive') return []
    m.status = 'alive'
    m.lastSeen = now
    delete m.reason
    return [{ kind: 'recovered', member: m }]
  }

  /**
   * Another peer reports `subject` failed after its record `seq`. Believed unless we have newer
   * news of the subject than the reporter had (then the subject is alive and our detector decides).
   */
  onObituary (subject: string, incarnation: number, seq: number, reporter: string): Transition[] {
    const m = this.members.get(subject)
    if (m == null || m.status === 'failed' || subject === this.selfId) return []
    const r = m.record
    if (r.incarnation > incarnation || (r.incarnation === incarnation && r.seq > seq)) return []
    return [this.setStatus(m, 'failed', `reported by ${reporter}`)]
  }

  /** Silence check: alive -> suspect -> failed by heartbeats missed; forgets long-failed members. */
  check (now: number): Transition[] {
    const out: Transition[] = []
    for (const m of this.members.values()) {
      const silent = now - m.lastSeen
      const beat = m.record.heartbeatMs
      if (m.status === 'failed') {
        if (silent > FAILED_RETENTION_MS) {
          this.members.delete(m.peerId)
          this.recordSeqs.delete(m.peerId)
        }
        continue
      }
      if (silent >= Math.max(MIN_FAIL_AFTER_MS, beat * this.failAfterBeats)) {
        out.push(this.setStatus(m, 'failed', `no heartbeat for ${Math.round(silent)} ms`))
      } else if (m.status === 'alive' && silent >= Math.max(MIN_SUSPECT_AFTER_MS, beat * this.suspectAfterBeats)) {
        out.push(this.setStatus(m, 'suspect', `no heartbeat for ${Math.round(silent)} ms`))
      }
    }
    return out
  }

  private setStatus (m: Member, status: MemberStatus, reason: string): Transition {
    m.status = status
    m.reason = reason
    return status === 'failed'
      ? { kind: 'failed', member: m, reason }
      : { kind: 'suspect', member: m, reason }
  }
}

/** what makes a record news: everything but the heartbeat counters and the moving load figures */
function fingerprint (r: NodeRecord): string {
  return JSON.stringify([r.role, r.raft, r.addrs, r.capabilities, r.links, r.hidden, r.ext, r.load.agents])
}
