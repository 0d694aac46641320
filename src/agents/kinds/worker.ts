/**
 * `worker`: runs one task of a coordinator's job per message and replies with its result.
 * `{op:'run', jobId, taskId, task: {type:'primes', from, to} | {type:'llm', prompt}}` ->
 * `{jobId, taskId, result}`. Tasks are pure (a task run twice gives the same answer), so a
 * coordinator may re-dispatch freely; it counts each task's result once.
 */
import { InvalidArgumentError } from '../../errors.ts'
import { CHAT_MAX_TEXT_CHARS } from '../constants.ts'
import { defineAgent } from '../define.ts'
import type { AgentContext, JsonValue } from '../types.ts'
import { countPrimes } from './primes.ts'
import { isObject, opOf, unknownOp } from './shared.ts'

export async function runTask (task: JsonValue, ctx: AgentContext): Promise<JsonValue> {
  if (!isObject(task)) throw new InvalidArgumentError('worker: task must be an object')
  if (task.type === 'primes') {
    if (typeof task.from !== 'number' || typeof task.to !== 'number') throw new InvalidArgumentError('worker: primes task needs from and to')
    return countPrimes(task.from, task.to)
  }
  if (task.type === 'llm') {
    if (typeof task.prompt !== 'string' || task.prompt.length === 0 || task.prompt.length > CHAT_MAX_TEXT_CHARS) {
      throw new InvalidArgumentError('worker: llm task needs a prompt')
    }
    const r = await ctx.llm.chat([{ role: 'user', content: task.prompt }], { signal: ctx.turnSignal })
    return r.text
  }
  throw new InvalidArgumentError(`worker: unknown task type ${JSON.stringify(task.type)}`)
}

export const worker = defineAgent({
  kind: 'worker',
  requirements: { cpu: 0.25, memoryMb: 32 },
  async onMessage (message, ctx): Promise<JsonValue> {
    const { op, msg } = opOf(message, 'worker')
    if (op === 'ping') return { ok: true, node: ctx.nodeId }
    if (op !== 'run') return unknownOp('worker', op, ['run', 'ping'])
    const result = await runTask(msg.task ?? null, ctx)
    const done = ctx.state.get('tasksRun')
    ctx.state.set('tasksRun', (typeof done === 'number' ? done : 0) + 1)
    return { jobId: msg.jobId ?? null, taskId: msg.taskId ?? null, result }
  }
})
