/**
 * `coordinator`: splits a job into tasks, hands them to its workers, gathers the results; each
 * task's result is counted exactly once even when workers or the coordinator fail.
 *
 * Config `{workers: N, taskTimeoutMs?, maxTaskAttempts?, workerCooldownMs?}`. On every activation
 * it deploys its N workers (`<id>/w<i>`, spread over peers; already deployed is fine) and, if its
 * state holds a job with tasks still to run, resumes dispatching them.
 *
 * - `{op:'start', job:{type:'primes', from, to, chunk}}` or `{op:'start', job:{type:'llm', prompts}}`
 *   -> `{tasks, jobId}`; ConflictError while a job is running.
 * - `{op:'status'}` -> `{done, total, result?}` (`failed` too when tasks were given up).
 * - `{op:'result', jobId, taskId, result}` -> `{accepted}`: what the dispatcher sends itself; a
 *   result is accepted once per task, so a duplicate (a retried delivery, a slow worker, a
 *   dispatcher from a previous activation) changes nothing.
 * - `{op:'failed', jobId, taskId, error}` -> `{retry}`: counts a failed try of a task.
 *
 * The dispatcher is a background task of the activation: at most one task per worker in flight,
 * a worker whose task failed or timed out rests for a cooldown, its task goes back in the queue.
 */
import { InvalidArgumentError, InvalidMessageError } from '../../errors.ts'
import { sleep } from '../../messaging/index.ts'
import { deferred, raceSignal } from '../../util/abort.ts'
import {
  COORDINATOR_MAX_TASK_ATTEMPTS, COORDINATOR_MAX_WORKERS, COORDINATOR_TASK_TIMEOUT_MS, COORDINATOR_WORKER_COOLDOWN_MS
} from '../constants.ts'
import { defineAgent } from '../define.ts'
import type { AgentContext, JsonObject } from '../types.ts'
import { acceptResult, jobStatus, pendingTasks, readJob, readTask, recordFailure, startJob } from './job.ts'
import { isNamedError, isObject, opOf, safeInt, unknownOp } from './shared.ts'

interface CoordinatorConfig {
  workers: number
  taskTimeoutMs: number
  maxTaskAttempts: number
  workerCooldownMs: number
}

const DISPATCHING = 'dispatching'

export function coordinatorConfig (config: Readonly<JsonObject>): CoordinatorConfig {
  return {
    workers: safeInt(config.workers ?? 1, 'coordinator: config.workers', 1, COORDINATOR_MAX_WORKERS),
    taskTimeoutMs: safeInt(config.taskTimeoutMs ?? COORDINATOR_TASK_TIMEOUT_MS, 'coordinator: config.taskTimeoutMs', 1, 3_600_000),
    maxTaskAttempts: safeInt(config.maxTaskAttempts ?? COORDINATOR_MAX_TASK_ATTEMPTS, 'coordinator: config.maxTaskAttempts', 1, 1000),
    workerCooldownMs: safeInt(config.workerCooldownMs ?? COORDINATOR_WORKER_COOLDOWN_MS, 'coordinator: config.workerCooldownMs', 0, 3_600_000)
  }
}

export function workerIds (coordinatorId: string, n: number): string[] {
  return Array.from({ length: n }, (_, i) => `${coordinatorId}/w${i + 1}`)
}

/** starts the dispatcher unless this activation already runs one */
function ensureDispatcher (ctx: AgentContext): void {
  if (ctx.local.has(DISPATCHING)) return
  const token = {}
  ctx.local.set(DISPATCHING, token)
  ctx.spawn('dispatch', async (bg) => {
    try {
      await dispatch(bg, token)
    } finally {
      releaseToken(bg, token)
    }
  })
}

function releaseToken (ctx: AgentContext, token: object): void {
  if (ctx.local.get(DISPATCHING) === token) ctx.local.delete(DISPATCHING)
}

async function dispatch (ctx: AgentContext, token: object): Promise<void> {
  const cfg = coordinatorConfig(ctx.config)
  const workers = workerIds(ctx.agentId, cfg.workers)
  const busy = new Set<string>()
  const restUntil = new Map<string, number>()
  const inflight = new Set<Promise<void>>()
  let queue: number[] = []
  let jobId = -1
  let wake = deferred<void>()

  const runOne = async (w: string, i: number, job: number): Promise<void> => {
    const task = readTask(ctx.state, i)
    if (task == null || task.done) return
    let result
    try {
      const reply = await ctx.request(w, { op: 'run', jobId: job, taskId: i, task: task.input }, { timeoutMs: cfg.taskTimeoutMs })
      if (!isObject(reply) || !('result' in reply)) throw new InvalidMessageError(`worker ${w} replied without a result`)
      result = reply.result
    } catch (err) {
      if (ctx.signal.aborted) return
      restUntil.set(w, ctx.clock.monotonic() + cfg.workerCooldownMs)
      ctx.log('task %d on %s failed: %s', i, w, (err as Error).message)
      const r = await ctx.request(ctx.agentId, { op: 'failed', jobId: job, taskId: i, worker: w, error: `${(err as Error).name}: ${(err as Error).message}` }).catch(() => null)
      if (r == null || (isObject(r) && r.retry === true)) queue.push(i)
      return
    }
    // recorded through our own mailbox, so it is a turn like any other and accepted once
    await ctx.request(ctx.agentId, { op: 'result', jobId: job, taskId: i, result }).catch(() => { if (!ctx.signal.aborted) queue.push(i) })
  }

  while (!ctx.signal.aborted) {
    const job = readJob(ctx.state)
    if (job == null) break
    if (job.id !== jobId) { jobId = job.id; queue = pendingTasks(ctx.state) }
    if (queue.length === 0 && inflight.size === 0) {
      queue = pendingTasks(ctx.state)
      // nothing left: hand over (synchronously) to whichever dispatcher a later start begins
      if (queue.length === 0) { releaseToken(ctx, token); return }
    }
    const now = ctx.clock.monotonic()
    for (const w of workers) {
      if (queue.length === 0) break
      if (busy.has(w) || (restUntil.get(w) ?? 0) > now) continue
      const i = queue.shift() as number
      busy.add(w)
      const p: Promise<void> = runOne(w, i, jobId)
        .catch((err: unknown) => { ctx.log.error('dispatch of task %d failed: %s', i, (err as Error).message) })
        .finally(() => { busy.delete(w); inflight.delete(p); wake.resolve() })
      inflight.add(p)
    }
    try {
      if (inflight.size > 0) {
        await raceSignal(wake.promise, ctx.signal)
        wake = deferred<void>()
      } else if (queue.length > 0) {
        const soonest = Math.min(...workers.map(w => restUntil.get(w) ?? 0))
        await sleep(ctx.clock, Math.max(1, soonest - ctx.clock.monotonic()), { signal: ctx.signal })
      }
    } catch {
      break
    }
  }
  await Promise.allSettled([...inflight])
}

function statusReply (ctx: AgentContext): JsonObject {
  const s = jobStatus(ctx.state)
  const out: JsonObject = { done: s.done, total: s.total }
  if (s.failed > 0) out.failed = s.failed
  if (s.result !== undefined) out.result = s.result
  return out
}

export const coordinator = defineAgent({
  kind: 'coordinator',
  requirements: { cpu: 0.1, memoryMb: 32 },
  async onStart (ctx) {
    const cfg = coordinatorConfig(ctx.config)
    const ids = workerIds(ctx.agentId, cfg.workers)
    for (const id of ids) {
      try {
        await ctx.deploy(id, { kind: 'worker', antiAffinity: { agentIds: [ctx.agentId, ...ids.filter(x => x !== id)] } })
      } catch (err) {
        if (!isNamedError(err, 'ConflictError')) throw err
      }
    }
    ctx.state.set('workers', ids)
    if (pendingTasks(ctx.state).length > 0) ensureDispatcher(ctx)
  },
  onMessage (message, ctx) {
    const { op, msg } = opOf(message, 'coordinator')
    switch (op) {
      case 'start': {
        const job = startJob(ctx.state, msg.job ?? null)
        ensureDispatcher(ctx)
        return { tasks: job.total, jobId: job.id }
      }
      case 'status':
        return statusReply(ctx)
      case 'result': {
        const jobId = safeInt(msg.jobId, 'result.jobId', 0, Number.MAX_SAFE_INTEGER)
        const taskId = safeInt(msg.taskId, 'result.taskId', 0, Number.MAX_SAFE_INTEGER)
        if (!('result' in msg)) throw new InvalidArgumentError('coordinator: result needs a result')
        return { accepted: acceptResult(ctx.state, jobId, taskId, msg.result) }
      }
      case 'failed': {
        const jobId = safeInt(msg.jobId, 'failed.jobId', 0, Number.MAX_SAFE_INTEGER)
        const taskId = safeInt(msg.taskId, 'failed.taskId', 0, Number.MAX_SAFE_INTEGER)
        const error = typeof msg.error === 'string' ? msg.error : 'unknown error'
        return { retry: recordFailure(ctx.state, jobId, taskId, error, coordinatorConfig(ctx.config).maxTaskAttempts) }
      }
      default:
        return unknownOp('coordinator', op, ['start', 'status', 'result', 'failed'])
    }
  }
})
