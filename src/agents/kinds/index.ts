/** The kinds shipped with agentmesh: for the demo, the tests and as examples. */
import { coordinator } from './coordinator.ts'
import { counter } from './counter.ts'
import { echo } from './echo.ts'
import { inbox } from './inbox.ts'
import { llmChat } from './llm-chat.ts'
import { worker } from './worker.ts'
import type { AgentKind } from '../types.ts'

export { coordinator, coordinatorConfig, workerIds } from './coordinator.ts'
export { counter } from './counter.ts'
export { echo } from './echo.ts'
export { inbox, INBOX_MAX_KEYS, INBOX_PREFIX } from './inbox.ts'
export { llmChat } from './llm-chat.ts'
export { worker, runTask } from './worker.ts'
export { countPrimes } from './primes.ts'
export { planJob, jobStatus, acceptResult, recordFailure, pendingTasks, startJob, readJob, readTask } from './job.ts'
export type { JobRecord, TaskRecord, JobStatus } from './job.ts'

/** every built-in kind */
export const builtinKinds: readonly AgentKind[] = Object.freeze([echo, counter, llmChat, coordinator, worker, inbox])
