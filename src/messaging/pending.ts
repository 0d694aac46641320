/**
 * Requests and deliveries waiting for their answer: a reply, an ack or an error-reply with the
 * same correlation id, from the peer the message went to. Bounded; each wait ends with the
 * signal (timeout or abort), so nothing waits forever.
 */
import { CapacityError, InvalidMessageError, TimeoutError } from '../errors.ts'
import { abortReason } from '../util/abort.ts'
import { MAX_PENDING_REPLIES } from './constants.ts'
import { readErrorPayload, readPayload } from './payload.ts'
import { errorFromRemote } from './remote-error.ts'
import type { Clock, TimerHandle } from '../util/clock.ts'
import type { CorrelatedEnvelope } from './envelope.ts'
import type { MessageId } from './message-id.ts'

interface Waiter {
  peer: string
  /** the stream the message went out on (its answer can only come back on it) */
  link?: object
  resolve: (value: unknown) => void
  reject: (err: unknown) => void
  cleanup: () => void
}

export class PendingReplies {
  private readonly waiters = new Map<string, Waiter>()
  private readonly max: number
  private readonly clock: Clock

  constructor (clock: Clock, max = MAX_PENDING_REPLIES) {
    this.clock = clock
    this.max = max
  }

  get size (): number {
    return this.waiters.size
  }

  /**
   * registers interest in the answer to `id` from `peer`: resolves with the reply payload
   * (undefined for an ack), rejects with the remote's typed error, the signal's reason, or
   * TimeoutError after `timeoutMs` (a plain timer: no AbortSignal needed on the hot path), or
   * `linkClosed`'s error when `link`, the stream it went out on, closes first
   */
  expect (id: MessageId, peer: string, signal?: AbortSignal, timeoutMs?: number, link?: object): Promise<unknown> {
    if (this.waiters.size >= this.max) return Promise.reject(new CapacityError(`${this.max} replies already pending`))
    if (signal?.aborted === true) return Promise.reject(abortReason(signal))
    return new Promise((resolve, reject) => {
      let timer: TimerHandle | undefined
      let onAbort: (() => void) | undefined
      const cleanup = (): void => {
        if (timer !== undefined) this.clock.clearTimeout(timer)
        if (onAbort != null) signal?.removeEventListener('abort', onAbort)
      }
      if (signal != null) {
        onAbort = () => { cleanup(); this.waiters.delete(id); reject(abortReason(signal)) }
        signal.addEventListener('abort', onAbort, { once: true })
      }
      if (timeoutMs != null) {
        timer = this.clock.setTimeout(() => {
          cleanup()
          this.waiters.delete(id)
          reject(new TimeoutError(`no answer from ${peer} within ${timeoutMs} ms`))
        }, timeoutMs)
      }
      this.waiters.set(id, { peer, link, resolve, reject, cleanup })
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
        const { name, message, ...extra } = readErrorPayload(envelope)
        w.reject(errorFromRemote(name, message, fromPeer, extra))
      }
    } catch (err) {
      w.reject(err instanceof InvalidMessageError ? err : new InvalidMessageError(`bad answer from ${fromPeer}`, { cause: err }))
    }
    return true
  }

  /** the stream `link` closed: what went out on it will get no answer, so it fails now with `err` */
  linkClosed (link: object, err: Error): void {
    for (const [id, w] of this.waiters) {
      if (w.link !== link) continue
      w.cleanup()
      this.waiters.delete(id)
      w.reject(err)
    }
  }

  rejectAll (err: Error): void {
    for (const w of this.waiters.values()) { w.cleanup(); w.reject(err) }
    this.waiters.clear()
  }
}
