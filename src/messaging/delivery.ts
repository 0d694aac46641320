/**
 * Drives the outbox: one loop per channel delivers its pending entries in order (FIFO per
 * destination), each with retries (exponential backoff, full jitter) until the receiver acks, and
 * marks it delivered or, after the last attempt, failed with the reason. Pending entries left by
 * a previous run are resumed on start. `ensureDelivery` waits for an entry's outcome.
 *
 * Two conditions of this sender's own clock are waited out, never counted as attempts, and never
 * make an entry fail: while `holdReason()` says so (this peer is the mesh's clock outlier) no
 * attempt is made; and an attempt the receiver refused because the envelope's stamp is too far
 * ahead of its clock (error-reply with reason 'clock-skew') is tried again after the time the
 * receiver said real time needs to catch up with that stamp. `wake()` ends either wait.
 */
import { ClockSkewError, InvalidArgumentError, MessageTooLargeError, NotFoundError, UnreachableError, UnauthorizedError } from '../errors.ts'
import { deferred, raceSignal } from '../util/abort.ts'
import { DELIVERY_CLOCK_HOLD_MAX_MS, DELIVERY_CLOCK_HOLD_TOTAL_MAX_MS, DELIVERY_OUTLIER_RECHECK_MS } from './constants.ts'
import { retry, sleep } from './retry.ts'
import type { AbortOptions } from '../util/abort.ts'
import type { Clock } from '../util/clock.ts'
import type { Logger } from '../util/logger.ts'
import type { Rng } from '../util/prng.ts'
import type { MessageId } from './message-id.ts'
import type { Outbox, OutboxEntry, OutboxStatus } from './outbox.ts'
import type { RetryPolicy } from './retry.ts'

export interface DeliveryWorkerInit {
  outbox: Outbox
  clock: Clock
  rng: Rng
  policy: RetryPolicy
  log: Logger
  /** one attempt: resolves when the receiver acked */
  deliverOnce: (entry: OutboxEntry, options: AbortOptions) => Promise<void>
  /** called after each failed attempt that will be retried */
  onRetry?: (entry: OutboxEntry, err: unknown) => void
  /** called when an entry reached delivered or failed */
  onSettled?: (status: OutboxStatus) => void
  /** why deliveries must wait now (e.g. this peer's clock is the outlier), or undefined to go on */
  holdReason?: () => string | undefined
}

/** a receiver refused the envelope for this sender's clock: how long to wait before trying again */
function clockSkewWaitMs (err: unknown): number | undefined {
  if (!(err instanceof ClockSkewError)) return undefined
  const d = err.details ?? {}
  const after = typeof d.retryAfterMs === 'number' && Number.isFinite(d.retryAfterMs) ? d.retryAfterMs : DELIVERY_CLOCK_HOLD_MAX_MS
  return Math.min(DELIVERY_CLOCK_HOLD_MAX_MS, Math.max(0, after))
}

/** errors that another attempt cannot fix */
function isPermanent (err: unknown): boolean {
  return err instanceof InvalidArgumentError || err instanceof MessageTooLargeError || err instanceof UnauthorizedError
}

export class DeliveryWorker {
  private readonly init: DeliveryWorkerInit
  private readonly running = new Map<string, Promise<void>>()
  private readonly again = new Set<string>()
  private readonly waiters = new Map<MessageId, Set<(s: OutboxStatus) => void>>()
  private controller = new AbortController()
  /** aborted (and replaced) by wake(): ends every channel's backoff wait */
  private wakeup = new AbortController()
  private started = false

  constructor (init: DeliveryWorkerInit) {
    this.init = init
  }

  async start (): Promise<void> {
    this.controller = new AbortController()
    this.started = true
    const channels = new Set((await this.init.outbox.pending()).map(e => e.channel))
    for (const c of channels) this.kick(c)
  }

  async stop (): Promise<void> {
    this.started = false
    this.controller.abort()
    await Promise.allSettled([...this.running.values()])
    this.running.clear()
  }

  /** makes sure the channel's loop runs (again) to pick up new entries */
  kick (channel: string): void {
    if (!this.started) return
    if (this.running.has(channel)) { this.again.add(channel); return }
    const loop = this.runChannel(channel).finally(() => {
      this.running.delete(channel)
      if (this.again.delete(channel)) this.kick(channel)
    })
    this.running.set(channel, loop)
  }

  /**
   * retries now every channel waiting out a backoff, and skips the wait after an attempt in flight
   * that then fails (attempt counts are kept): called when the network heals or a peer comes back,
   * after which an attempt is likely to succeed where the backoff grown while the peer was out of
   * reach (up to the policy's maxDelayMs) would still wait
   */
  wake (): void {
    if (!this.started) return
    const fired = this.wakeup
    this.wakeup = new AbortController()
    fired.abort()
  }

  /** resolves with the delivered status; throws UnreachableError (with the reason) if it failed */
  async ensureDelivery (id: MessageId, options: AbortOptions = {}): Promise<OutboxStatus> {
    const now = this.init.outbox.status(id)
    if (now == null) throw new NotFoundError(`message ${id} is not in the outbox`)
    const settled = now.state === 'pending' ? await this.waitSettled(id, options) : now
    if (settled.state === 'failed') {
      throw new UnreachableError(`message ${id} was not delivered: ${settled.reason ?? 'unknown'}`, { details: { status: settled } })
    }
    return settled
  }

  private async waitSettled (id: MessageId, options: AbortOptions): Promise<OutboxStatus> {
    const d = deferred<OutboxStatus>()
    let set = this.waiters.get(id)
    if (set == null) { set = new Set(); this.waiters.set(id, set) }
    set.add(d.resolve)
    try {
      return await raceSignal(d.promise, options.signal)
    } finally {
      set.delete(d.resolve)
      if (set.size === 0) this.waiters.delete(id)
    }
  }

  private settle (status: OutboxStatus): void {
    this.init.onSettled?.(status)
    for (const resolve of this.waiters.get(status.id) ?? []) resolve(status)
    this.waiters.delete(status.id)
  }

  private async runChannel (channel: string): Promise<void> {
    const { outbox, log } = this.init
    const signal = this.controller.signal
    while (!signal.aborted) {
      const [entry] = await outbox.pending({ channel, limit: 1 })
      if (entry == null) return
      // attempts used so far (those counted while this loop runs included)
      let used = entry.attempts
      // time spent in uncounted clock-skew waits (bounded), and the hold last logged
      let skewWaitedMs = 0
      let loggedHold: string | undefined
      for (;;) {
        const held = this.init.holdReason?.()
        if (held !== undefined) {
          if (held !== loggedHold) log('delivery of %s on %s waits: %s', entry.id, channel, held)
          loggedHold = held
          if (!await this.pause(DELIVERY_OUTLIER_RECHECK_MS)) return
          continue
        }
        loggedHold = undefined
        try {
          await retry(async (_n, opts) => { await this.init.deliverOnce(entry, opts) }, {
            clock: this.init.clock,
            rng: this.init.rng,
            policy: { ...this.init.policy, maxAttempts: Math.max(1, this.init.policy.maxAttempts - used) },
            signal,
            isRetryable: (err) => !isPermanent(err) && clockSkewWaitMs(err) === undefined,
            wake: () => this.wakeup.signal,
            onRetry: (err, _failures, delayMs) => {
              used++
              log('delivery of %s on %s: attempt %d failed (%s), next in %d ms', entry.id, channel, used, describe(err), delayMs)
              this.init.onRetry?.(entry, err)
              outbox.recordAttempt(entry.id, describe(err)).catch(e => { log.error('outbox: could not count attempt: %s', describe(e)) })
            }
          })
          this.settle(await outbox.markDelivered(entry.id))
          break
        } catch (err) {
          if (signal.aborted) return
          const waitMs = clockSkewWaitMs(err)
          if (waitMs !== undefined && skewWaitedMs + waitMs <= DELIVERY_CLOCK_HOLD_TOTAL_MAX_MS) {
            skewWaitedMs += waitMs
            // this peer's stamp is ahead of the receiver's clock: a condition of this sender that
            // passes with time, not a failed attempt
            log('delivery of %s on %s refused for this peer\'s clock (%s), again in %d ms (not counted)', entry.id, channel, describe(err), waitMs)
            if (!await this.pause(waitMs)) return
            continue
          }
          if (waitMs !== undefined) log('delivery of %s on %s still refused for the clock after %d ms of waits: the receiver\'s clock is behind', entry.id, channel, skewWaitedMs)
          log('delivery of %s on %s failed for good: %s', entry.id, channel, describe(err))
          try {
            this.settle(await outbox.markFailed(entry.id, describe(err)))
          } catch (e) {
            log.error('outbox: could not mark %s failed: %s', entry.id, describe(e))
            // the store is failing: stop this loop rather than spin; the next kick or start retries
            return
          }
          break
        }
      }
    }
  }

  /** waits `ms` on the clock, or until wake(); false when the worker stopped meanwhile */
  private async pause (ms: number): Promise<boolean> {
    try {
      await sleep(this.init.clock, ms, { signal: this.controller.signal, wake: this.wakeup.signal })
      return true
    } catch {
      return false
    }
  }
}

function describe (err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err)
}
