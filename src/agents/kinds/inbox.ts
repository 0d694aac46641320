/**
 * `inbox`: records the messages it gets, for reliable-delivery checks (every message accepted by
 * `send` handled once) and as an example of a receiving agent.
 * `{op:'record', key}` -> `{key, times}`: state key `m/<key>` counts how often `key` arrived (1 when
 * delivered once); `{op:'count'}` -> `{keys}`. A key is 1-128 characters; an inbox holds at most
 * INBOX_MAX_KEYS keys (CapacityError beyond).
 */
import { CapacityError, InvalidArgumentError } from '../../errors.ts'
import { defineAgent } from '../define.ts'
import type { JsonObject } from '../types.ts'
import { opOf, unknownOp } from './shared.ts'

export const INBOX_MAX_KEYS = 20_000
export const INBOX_MAX_KEY_CHARS = 128
/** the state key prefix of recorded messages */
export const INBOX_PREFIX = 'm/'
const COUNT_KEY = 'count'

export const inbox = defineAgent({
  kind: 'inbox',
  requirements: { cpu: 0.05, memoryMb: 8 },
  onMessage (message, ctx): JsonObject {
    const { op, msg } = opOf(message, 'inbox')
    const count = typeof ctx.state.get(COUNT_KEY) === 'number' ? ctx.state.get(COUNT_KEY) as number : 0
    if (op === 'count') return { keys: count }
    if (op === 'record') {
      const key = msg.key
      if (typeof key !== 'string' || key.length === 0 || key.length > INBOX_MAX_KEY_CHARS) {
        throw new InvalidArgumentError(`inbox: key must be a string of 1-${INBOX_MAX_KEY_CHARS} characters`)
      }
      const before = ctx.state.get(INBOX_PREFIX + key)
      const times = (typeof before === 'number' ? before : 0) + 1
      if (times === 1) {
        if (count >= INBOX_MAX_KEYS) throw new CapacityError(`inbox: holds ${INBOX_MAX_KEYS} keys already`)
        ctx.state.set(COUNT_KEY, count + 1)
      }
      ctx.state.set(INBOX_PREFIX + key, times)
      return { key, times }
    }
    return unknownOp('inbox', op, ['record', 'count'])
  }
})
