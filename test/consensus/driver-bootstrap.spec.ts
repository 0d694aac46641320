/**
 * RaftDriver.bootstrap: a founder writes the group's bootstrap snapshot and campaigns at once (no
 * election timeout: the clock here never moves, so only that campaign can make it leader); a
 * membership that does not make this peer a voter is refused before the log is touched.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { RaftDriver } from '../../src/consensus/index.ts'
import { DurableRaftLog } from '../../src/consensus/log-store.ts'
import { MemoryStore } from '../../src/storage/memory.ts'
import { ManualClock } from '../../src/util/clock.ts'
import { componentLogger } from '../../src/util/logger.ts'
import { seededRng } from '../../src/util/prng.ts'
import type { ConfState } from '../../src/consensus/raft/index.ts'
import { waitFor } from '../network/harness.ts'

async function driverAlone (id: string): Promise<{ driver: RaftDriver, log: DurableRaftLog, confs: ConfState[] }> {
  const log = await DurableRaftLog.open(new MemoryStore())
  const confs: ConfState[] = []
  const driver = new RaftDriver({
    id,
    log,
    sender: { send: () => {} },
    clock: new ManualClock(1_000),
    rng: seededRng(5),
    logger: componentLogger('test:driver-bootstrap'),
    hooks: { confChanged: (cs) => { confs.push(cs) } }
  })
  driver.start()
  return { driver, log, confs }
}

describe('RaftDriver.bootstrap', () => {
  it('a founder alone writes the group and leads at once, without waiting for an election timeout', async () => {
    const { driver, log, confs } = await driverAlone('a')
    try {
      await driver.bootstrap({ voters: ['a'], learners: [] })
      assert.equal(log.lastIndex(), 1, 'the bootstrap snapshot is the log')
      assert.deepEqual(confs.map(c => c.voters), [['a']])
      await waitFor(() => driver.status().role === 'leader', 10_000, 'the founder to lead')
    } finally {
      await driver.stop()
    }
  })

  it('refuses a membership that leaves this peer out, and leaves the log empty', async () => {
    const { driver, log, confs } = await driverAlone('z')
    try {
      await assert.rejects(driver.bootstrap({ voters: ['a', 'b', 'c'], learners: ['z'] }), { name: 'InvalidArgumentError' })
      assert.equal(log.lastIndex(), 0, 'nothing written: the peer may still found or join a group')
      assert.deepEqual(confs, [])
      assert.equal(driver.isMember, false)
    } finally {
      await driver.stop()
    }
  })
})
