/**
 * The membership view and failure detector, as a pure table driven by the caller's clock:
 * records arrive (heartbeats), connections close, obituaries and leaves arrive, and `check(now)`
 * turns silence into suspect and then failed. It returns the transitions; NetworkManager turns
 * them into events. No timers or network in here, so it is tested with plain numbers.
 */
import {
  FAIL_AFTER_BEATS, FAILED_RETENTION_MS, MIN_FAIL_AFTER_MS, MIN_SUSPECT_AFTER_MS, SUSPECT_AFTER_BEATS
} from './constants.ts'
import type { Member, MemberStatus, NodeRecord } from './types.ts'

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

  /** A record (heartbeat) arrived at local time `now`. Older or duplicate records are ignored. */
  onRecord (record: NodeRecord, now: number): Transition[] {
    if (record.peerId === this.selfId) return []
    const known = this.members.get(record.peerId)
    if (known == null) {
      const member: Member = { peerId: record.peerId, status: 'alive', record, lastSeen: now }
      this.members.set(record.peerId, member)
      return [{ kind: 'joined', member }]
    }
    if (record.incarnation < known.record.incarnation) return []
    if (record.incarnation === known.record.incarnation && record.seq <= known.record.seq) return []
    const previous = known.status
    const changed = record.incarnation > known.record.incarnation || fingerprint(record) !== fingerprint(known.record)
    known.record = record
    known.lastSeen = now
    if (previous !== 'alive') {
      known.status = 'alive'
      delete known.reason
      return [{ kind: 'recovered', member: known }]
    }
    return changed ? [{ kind: 'updated', member: known }] : []
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
        if (silent > FAILED_RETENTION_MS) this.members.delete(m.peerId)
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
