/**
 * Lease time is the leader's time. A lease's expiry is `nowMs + ttlMs` of the command that granted
 * it, or of the renewal the leader answered (renewals are no Raft entries: the leader keeps them in
 * memory, lease-renewals.ts), and the leader expires it when its own clock passes that; the holder
 * stops serving `ttl - safety` after it sent the renewal, by its monotonic clock. That is only safe
 * when the `nowMs` is the leader's: a holder whose wall clock ran behind the leader's had its lease
 * expired (and its agents placed elsewhere) while it still served them, and one whose clock ran
 * ahead held a lease minutes past its death. So:
 *
 * - the leader stamps every lease grant forwarded to it with its own lease time
 *   (`stampLeaseTimes`; also a `lease-keepalive` entry, which only older peers propose), as local
 *   ones already are, and renews by its own lease time;
 * - lease time is the wall clock read once at start, advanced by monotonic time since
 *   (`anchoredLeaseClock`): a wall clock stepped while the peer runs does not shorten or stretch a
 *   lease. A new leader's frame may differ from the old one's; `lease-promote` (every lease gets a
 *   full ttl in the new frame) covers that.
 */
import type { Clock } from '../util/clock.ts'
import { commandTypeOf, decodeCommand, encodeCommand } from './kv/index.ts'
import { EntryType, MessageType } from './raft/types.ts'
import type { Message } from './raft/types.ts'

/** `clock`'s wall time at the call, then advanced by its monotonic time only (whole ms) */
export function anchoredLeaseClock (clock: Clock): Clock {
  const wallAtStart = clock.now()
  const monoAtStart = clock.monotonic()
  return {
    now: () => Math.round(wallAtStart + (clock.monotonic() - monoAtStart)),
    monotonic: () => clock.monotonic(),
    setTimeout: (fn, ms) => clock.setTimeout(fn, ms),
    clearTimeout: (h) => { clock.clearTimeout(h) },
    setInterval: (fn, ms) => clock.setInterval(fn, ms),
    clearInterval: (h) => { clock.clearInterval(h) }
  }
}

/**
 * a proposal forwarded to the leader, with the `nowMs` of its lease grants and renewals replaced
 * by the leader's `nowMs` (the same message when it holds none); an entry that does not decode is
 * left as it is, to be refused where commands are validated
 */
export function stampLeaseTimes (m: Message, nowMs: number): Message {
  if (m.type !== MessageType.Prop || m.entries.length === 0) return m
  let changed = false
  const entries = m.entries.map(e => {
    const type = e.type === EntryType.Normal ? commandTypeOf(e.data) : undefined
    if (type !== 'lease-grant' && type !== 'lease-keepalive') return e
    try {
      const cmd = decodeCommand(e.data)
      if (cmd.type !== 'lease-grant' && cmd.type !== 'lease-keepalive') return e
      changed = true
      return { ...e, data: encodeCommand({ ...cmd, nowMs }) }
    } catch {
      return e
    }
  })
  return changed ? { ...m, entries } : m
}
