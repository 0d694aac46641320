/** `counter`: `{op:'inc', by?}` -> `{value}`; `{op:'get'}` -> `{value}`; state key `value`. */
import { InvalidArgumentError } from '../../errors.ts'
import { defineAgent } from '../define.ts'
import { opOf, unknownOp } from './shared.ts'

function current (value: unknown): number {
  return typeof value === 'number' && Number.isFinite(value) ? value : 0
}

export const counter = defineAgent({
  kind: 'counter',
  requirements: { cpu: 0.05, memoryMb: 8 },
  init (ctx) {
    const start = ctx.config.start
    if (start != null) {
      if (typeof start !== 'number' || !Number.isFinite(start)) throw new InvalidArgumentError('counter: config.start must be a number')
      ctx.state.set('value', start)
    }
  },
  onMessage (message, ctx) {
    const { op, msg } = opOf(message, 'counter')
    if (op === 'get') return { value: current(ctx.state.get('value')) }
    if (op === 'inc') {
      const by = msg.by ?? 1
      if (typeof by !== 'number' || !Number.isFinite(by)) throw new InvalidArgumentError('counter: by must be a finite number')
      const value = current(ctx.state.get('value')) + by
      ctx.state.set('value', value)
      return { value }
    }
    return unknownOp('counter', op, ['inc', 'get'])
  }
})
