/**
 * `echo`: replies with the message it got. Given `{forward: ID, message: M}` it asks agent ID
 * (wherever it runs) and replies `{from: ID, reply: R}`.
 */
import { InvalidArgumentError } from '../../errors.ts'
import { defineAgent } from '../define.ts'
import { isObject } from './shared.ts'

export const echo = defineAgent({
  kind: 'echo',
  requirements: { cpu: 0.05, memoryMb: 8 },
  async onMessage (message, ctx) {
    if (isObject(message) && 'forward' in message) {
      const to = message.forward
      if (typeof to !== 'string' || !('message' in message)) throw new InvalidArgumentError('echo: forward needs {forward: agentId, message}')
      const reply = await ctx.request(to, message.message ?? null)
      return { from: to, reply }
    }
    return message
  }
})
