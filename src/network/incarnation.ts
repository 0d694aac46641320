/**
 * A peer's incarnation: the number its membership records carry so that the others tell a restart
 * of the same peer (a higher one) from a stale record (a lower one, ignored). It is the start time
 * on the wall clock, but never lower than the last start's plus one, as stored in the peer's own
 * store: a peer restarted with its clock set back (a wrong clock, a step by NTP) otherwise announced
 * a lower incarnation than the one the others held for it as failed, all its records were taken
 * for stale, and it was never admitted again (the fault lab's clock-skew scenario: a peer
 * restarted 37 s behind stayed out of the membership and the Raft group for good).
 */
import * as decoding from 'lib0/decoding'
import * as encoding from 'lib0/encoding'
import { componentLogger } from '../util/logger.ts'
import type { Clock } from '../util/clock.ts'
import type { Store } from '../storage/types.ts'

const log = componentLogger('network')

/** the key, in the store handed over, of the last incarnation this peer started with */
export const INCARNATION_KEY = 'incarnation'

/**
 * this start's incarnation: max(now, last + 1), written (synced) before it is announced. An
 * unreadable stored value is logged and the wall clock used
 */
export async function nextIncarnation (store: Store, clock: Clock): Promise<number> {
  let last = 0
  const raw = await store.get(INCARNATION_KEY)
  if (raw != null) {
    try {
      const d = decoding.createDecoder(raw)
      last = decoding.readVarUint(d)
      if (decoding.hasContent(d)) throw new Error(`${raw.length} bytes, trailing data`)
    } catch (err) {
      log.error('stored incarnation unreadable (%s): the wall clock decides', (err as Error).message)
      last = 0
    }
  }
  const now = Math.floor(clock.now())
  const next = Math.max(now, last + 1)
  if (next !== now) log('the wall clock (%d) is behind this peer\'s last start (%d): incarnation %d', now, last, next)
  await store.put(INCARNATION_KEY, encoding.encode(enc => { encoding.writeVarUint(enc, next) }), { sync: true })
  return next
}
