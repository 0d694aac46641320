/**
 * The nodes topic, inbound: the gossipsub validator (only well-formed, self-authored membership
 * messages are forwarded) and the handler that feeds each message to the
 * membership table, the record publisher (record requests) and the clock-skew detector (the
 * stamps the table took).
 */
import { TopicValidatorResult } from '@libp2p/gossipsub'
import type { Message } from '@libp2p/gossipsub'
import { describeError } from '../errors.ts'
import type { Clock } from '../util/clock.ts'
import type { Logger } from '../util/logger.ts'
import type { ClockSkewDetector } from './clock-skew.ts'
import type { MembershipTable, Transition } from './membership.ts'
import type { NetworkMetrics } from './network-metrics.ts'
import { decodeMembershipMessage, MembershipMessageType, type MembershipMessage } from './record-codec.ts'
import type { RecordPublisher } from './record-publisher.ts'

export interface MembershipInboundInit {
  peerId: string
  mesh: string
  topic: string
  table: MembershipTable
  publisher: RecordPublisher
  clockSkew: ClockSkewDetector
  /** turns the table's transitions into events */
  apply: (transitions: Transition[]) => void
  metrics: NetworkMetrics | undefined
  clock: Clock
  log: Logger
}

export class MembershipInbound {
  private readonly init: MembershipInboundInit
  /** what the validator decoded, for the handler; weak, as a validated message may never be delivered */
  private readonly decoded = new WeakMap<Message, MembershipMessage>()

  constructor (init: MembershipInboundInit) {
    this.init = init
  }

  /**
   * gossipsub validator: only well-formed, self-authored messages are forwarded. gossipsub's
   * StrictSign has already checked the author's signature over these bytes, and a membership
   * message must be about its gossip author, so the copy of that signature inside the message (kept
   * for peers of earlier versions, which check it) is not checked a second time.
   */
  readonly validate = async (peer: unknown, msg: Message): Promise<TopicValidatorResult> => {
    if (msg.type !== 'signed') return TopicValidatorResult.Reject
    try {
      this.decoded.set(msg, await decodeMembershipMessage(msg.data, msg.from.toString(), this.init.mesh, { verified: true }))
      return TopicValidatorResult.Accept
    } catch (err) {
      const { name, message } = describeError(err)
      this.init.metrics?.invalid.inc(1, { reason: name })
      this.init.log.error('rejected membership message from %s: %s: %s', msg.from.toString(), name, message)
      return TopicValidatorResult.Reject
    }
  }

  readonly onPubsubMessage = (evt: CustomEvent<Message>): void => {
    const msg = evt.detail
    if (msg.topic !== this.init.topic || msg.type !== 'signed') return
    // gossipsub hands the validator and this handler the same message object: decode it once
    const validated = this.decoded.get(msg)
    this.decoded.delete(msg)
    const decoding = validated != null ? Promise.resolve(validated) : decodeMembershipMessage(msg.data, msg.from.toString(), this.init.mesh, { verified: true })
    decoding.then(decoded => {
      const now = this.init.clock.monotonic()
      switch (decoded.type) {
        case MembershipMessageType.Record:
          this.init.apply(this.init.table.onRecord(decoded.record, now))
          this.observeClock(decoded.record.peerId, decoded.record.seq, decoded.record.ts)
          break
        case MembershipMessageType.Leave:
          this.init.apply(this.init.table.markFailed(decoded.peerId, 'left the mesh'))
          break
        case MembershipMessageType.Failed:
          this.init.apply(this.init.table.onObituary(decoded.subject, decoded.incarnation, decoded.seq, decoded.author))
          break
        case MembershipMessageType.Heartbeat: {
          const { transitions, wantRecord } = this.init.table.onHeartbeat(decoded.heartbeat, now)
          this.init.apply(transitions)
          this.observeClock(decoded.heartbeat.peerId, decoded.heartbeat.seq, decoded.heartbeat.ts)
          if (wantRecord) this.init.publisher.want(decoded.heartbeat.peerId)
          break
        }
        case MembershipMessageType.Wanted:
          if (decoded.subjects.includes(this.init.peerId)) this.init.publisher.recordRequested()
          break
      }
    }, err => { this.init.log.error('bad membership message: %s', describeError(err).message) })
  }

  /** a stamp the table took (not an old or replayed one) tells how far that peer's clock is from ours */
  private observeClock (peerId: string, seq: number, ts: number): void {
    const m = this.init.table.get(peerId)
    if (m != null && m.status === 'alive' && m.record.seq === seq && m.record.ts === ts) this.init.clockSkew.observe(peerId, ts)
  }
}
