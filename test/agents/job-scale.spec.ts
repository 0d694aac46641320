import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import * as Y from 'yjs'
import { YKeyValue } from '../../src/consensus/crdt/index.ts'
import { COORDINATOR_MAX_TASKS } from '../../src/agents/constants.ts'
import { acceptResult, jobStatus, pendingTasks, planJob, startJob } from '../../src/agents/kinds/job.ts'
import type { AgentState } from '../../src/agents/types.ts'

describe('coordinator job at the task cap', () => {
  it('takes 20,000 tasks in a replicated state, counts each result once, and refuses one more', () => {
    const answered = 2_000
    assert.equal(COORDINATOR_MAX_TASKS, 20_000)
    assert.throws(() => planJob({ type: 'primes', from: 0, to: COORDINATOR_MAX_TASKS + 1, chunk: 1 }), { name: 'InvalidArgumentError' })
    const doc = new Y.Doc()
    const state = new YKeyValue<unknown>(doc.getArray('state')) as unknown as AgentState
    const job = startJob(state, { type: 'primes', from: 0, to: COORDINATOR_MAX_TASKS, chunk: 1 })
    assert.equal(job.total, COORDINATOR_MAX_TASKS)
    // results arrive from the far end of the task list too
    for (let i = 0; i < answered; i++) acceptResult(state, job.id, job.total - 1 - i, 1)
    assert.equal(acceptResult(state, job.id, job.total - 1, 1), false, 'a second result for a task is not counted')
    const s = jobStatus(state)
    assert.equal(s.done, answered)
    assert.equal(s.result, undefined, 'no result before every task is done')
    assert.equal(pendingTasks(state).length, COORDINATOR_MAX_TASKS - answered)
    assert.equal(doc.getArray('state').length, COORDINATOR_MAX_TASKS + 1, 'one entry per task, plus the job')
  })
})
