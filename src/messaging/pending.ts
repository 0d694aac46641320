/**
 * Requests and deliveries waiting for their answer: a reply, an ack or an error-reply with the
 * same correlation id, from the peer the message went to. Bounded; each wait ends with the
 * signal (timeout or abort), so nothing waits forever.
 */
import { CapacityError, InvalidMessageError } from '../errors.ts'
import { abortReason } from '../util/abort.ts'
import { MAX_PENDING_REPLIES } from './constants.ts'
import { readErrorPayload, readPayload } from './payload.ts'
import { errorFromRemote } from './remote-error.ts'
import type { Clock } from '../util/clock.ts'
import type { CorrelatedEnvelope } from './envelope.ts'
import type { MessageId } from './message-id.ts'

interface Waiter {
  peer: string
  resolve: (value: unknown) => void
  reject: (err: unknown) => void
  cleanup: () => void
}

export class PendingReplies {
  private readonly waiters = new Map<string, Waiter>()
  private readonly max: number

  constructor (_clock: Clock, max = MAX_PENDING_REPLIES) {
    this.max = max
  }

  get size (): number {
    return this.waiters.size
  }

  /**
   * registers interest in the answer to `id` from `peer`: resolves with the reply payload
   * (undefined for an ack), rejects with the remote's typed error or the signal's reason
   */
  async expect (id: MessageId, peer: string, signal: AbortSignal): Promise<unknown> {
    if (this.waiters.size >= this.max) throw new CapacityError(`${this.max} replies already pending`)
    if (signal.aborted) throw abortReason(signal)
    return await new Promise((resolve, reject) => {
      const onAbort = (): void => { this.waiters.delete(id); reject(abortReason(signal)) }
      signal.addEventListener('abort', onAbort, { once: true })
      this.waiters.set(id, { peer, resolve, reject, cleanup: () => { signal.removeEventListener('abort', onAbort) } })
    })
  }

  /** stops waiting without settling (the send failed and the caller throws its own error) */
  cancel (id: MessageId): void {
    const w = this.waiters.get(id)
    if (w == null) return
    w.cleanup()
    this.waiters.delete(id)
  }

  /** an answer arrived from `fromPeer`; false if nobody waits for it (late, or from the wrong peer) */
  settle (envelope: CorrelatedEnvelope, fromPeer: string): boolean {
    const w = this.waiters.get(envelope.correlationId)
    if (w == null || w.peer !== fromPeer) return false
    w.cleanup()
    this.waiters.delete(envelope.correlationId)
    try {
      if (envelope.kind === 'ack') w.resolve(undefined)
      else if (envelope.kind === 'reply') w.resolve(readPayload(envelope))
      else {
        const { name, message } = readErrorPayload(envelope)
        w.reject(errorFromRemote(name, message, fromPeer))
      }
    } catch (err) {
      w.reject(err instanceof InvalidMessageError ? err : new InvalidMessageError(`bad answer from ${fromPeer}`, { cause: err }))
    }
    return true
  }

  rejectAll (err: Error): void {
    for (const w of this.waiters.values()) { w.cleanup(); w.reject(err) }
    this.waiters.clear()
  }
}
