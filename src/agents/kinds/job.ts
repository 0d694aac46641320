/**
 * A coordinator's job as it sits in the coordinator's state: `job` = {id, type, total} and one
 * `task:<i>` entry per task = {input, attempts, done, result?, failed?, error?}. The status and the
 * final result are always derived from the task entries, so a result recorded twice is counted
 * once and a coordinator re-activated elsewhere sees exactly what was recorded.
 */
import { ConflictError, InvalidArgumentError } from '../../errors.ts'
import { COORDINATOR_MAX_TASKS, PRIMES_MAX_RANGE, PRIMES_MAX_TASK_RANGE, PRIMES_MAX_VALUE } from '../constants.ts'
import type { AgentState, JsonObject, JsonValue } from '../types.ts'
import { isObject, safeInt } from './shared.ts'

export interface JobRecord {
  id: number
  type: 'primes' | 'llm'
  total: number
}

export interface TaskRecord {
  input: JsonObject
  attempts: number
  done: boolean
  result?: JsonValue
  failed?: boolean
  error?: string
}

export const JOB_KEY = 'job'
export const taskKey = (i: number): string => `task:${i}`

/** splits a job description into task inputs (validated) */
export function planJob (job: JsonValue): { type: JobRecord['type'], tasks: JsonObject[] } {
  if (!isObject(job)) throw new InvalidArgumentError('coordinator: job must be an object')
  if (job.type === 'primes') {
    const from = safeInt(job.from, 'job.from', 0, PRIMES_MAX_VALUE)
    const to = safeInt(job.to, 'job.to', from, Math.min(PRIMES_MAX_VALUE, from + PRIMES_MAX_RANGE))
    const chunk = safeInt(job.chunk, 'job.chunk', 1, PRIMES_MAX_TASK_RANGE)
    const count = Math.ceil((to - from) / chunk)
    if (count > COORDINATOR_MAX_TASKS) throw new InvalidArgumentError(`coordinator: at most ${COORDINATOR_MAX_TASKS} tasks (got ${count}); use a bigger chunk`)
    const tasks: JsonObject[] = []
    for (let lo = from; lo < to; lo += chunk) tasks.push({ type: 'primes', from: lo, to: Math.min(to, lo + chunk) })
    return { type: 'primes', tasks }
  }
  if (job.type === 'llm') {
    const prompts = job.prompts
    if (!Array.isArray(prompts) || prompts.length === 0 || prompts.length > COORDINATOR_MAX_TASKS || !prompts.every(p => typeof p === 'string' && p.length > 0)) {
      throw new InvalidArgumentError(`coordinator: llm job needs 1-${COORDINATOR_MAX_TASKS} non-empty prompts`)
    }
    return { type: 'llm', tasks: (prompts as string[]).map(prompt => ({ type: 'llm', prompt })) }
  }
  throw new InvalidArgumentError(`coordinator: unknown job type ${JSON.stringify(isObject(job) ? job.type : job)}`)
}

export function readJob (state: AgentState): JobRecord | undefined {
  const j = state.get(JOB_KEY)
  if (!isObject(j) || typeof j.id !== 'number' || (j.type !== 'primes' && j.type !== 'llm') || typeof j.total !== 'number') return undefined
  return { id: j.id, type: j.type, total: j.total }
}

export function readTask (state: AgentState, i: number): TaskRecord | undefined {
  const t = state.get(taskKey(i))
  if (!isObject(t) || !isObject(t.input)) return undefined
  return t as unknown as TaskRecord
}

export interface JobStatus {
  done: number
  total: number
  failed: number
  result?: JsonValue
}

export function jobStatus (state: AgentState): JobStatus {
  const job = readJob(state)
  if (job == null) return { done: 0, total: 0, failed: 0 }
  let done = 0
  let failed = 0
  const results: JsonValue[] = []
  for (let i = 0; i < job.total; i++) {
    const t = readTask(state, i)
    if (t?.done === true) { done++; results.push(t.result ?? null) } else if (t?.failed === true) failed++
  }
  const status: JobStatus = { done, total: job.total, failed }
  if (done === job.total) {
    status.result = job.type === 'primes' ? results.reduce<number>((sum, r) => sum + (typeof r === 'number' ? r : 0), 0) : results
  }
  return status
}

/** the indexes of tasks still to run */
export function pendingTasks (state: AgentState): number[] {
  const job = readJob(state)
  if (job == null) return []
  const out: number[] = []
  for (let i = 0; i < job.total; i++) {
    const t = readTask(state, i)
    if (t != null && !t.done && t.failed !== true) out.push(i)
  }
  return out
}

/** records a new job, replacing a finished one; ConflictError while one is running */
export function startJob (state: AgentState, job: JsonValue): JobRecord {
  const plan = planJob(job)
  const previous = readJob(state)
  if (previous != null) {
    const s = jobStatus(state)
    if (s.done + s.failed < s.total) throw new ConflictError(`coordinator: job ${previous.id} is still running (${s.done}/${s.total})`)
    for (let i = 0; i < previous.total; i++) state.delete(taskKey(i))
  }
  const record: JobRecord = { id: (previous?.id ?? 0) + 1, type: plan.type, total: plan.tasks.length }
  plan.tasks.forEach((input, i) => { state.set(taskKey(i), { input, attempts: 0, done: false }) })
  state.set(JOB_KEY, record as unknown as JsonObject)
  return record
}

/** accepts a task's result once; false when the job or task does not match or it was already done */
export function acceptResult (state: AgentState, jobId: number, i: number, result: JsonValue): boolean {
  const job = readJob(state)
  const t = readTask(state, i)
  if (job == null || job.id !== jobId || t == null || t.done || t.failed === true) return false
  state.set(taskKey(i), { ...t, done: true, result } as unknown as JsonObject)
  return true
}

/** counts a failed try; the task is given up after `maxAttempts`. Returns whether to retry. */
export function recordFailure (state: AgentState, jobId: number, i: number, error: string, maxAttempts: number): boolean {
  const job = readJob(state)
  const t = readTask(state, i)
  if (job == null || job.id !== jobId || t == null || t.done || t.failed === true) return false
  const attempts = t.attempts + 1
  const failed = attempts >= maxAttempts
  state.set(taskKey(i), { ...t, attempts, error: error.slice(0, 500), ...(failed ? { failed: true } : {}) } as unknown as JsonObject)
  return !failed
}
