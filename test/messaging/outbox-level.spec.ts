import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { openStore } from '#platform/storage'
import { Outbox } from '../../src/messaging/outbox.ts'
import { createMessageId } from '../../src/messaging/message-id.ts'
import { sampleEnvelope } from './helpers.ts'

describe('Outbox on LevelDB', () => {
  it('finds accepted messages and continues seqs after the database is closed and reopened', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'agentmesh-outbox-'))
    try {
      const store = await openStore(dir)
      const outbox = await Outbox.open(store.sub('outbox/'))
      const ids = []
      for (let i = 0; i < 5; i++) ids.push((await outbox.accept('peer:B', seq => sampleEnvelope({ id: createMessageId(), seq }))).id)
      await outbox.markDelivered(ids[0])
      await store.close()

      const reopened = await openStore(dir)
      const again = await Outbox.open(reopened.sub('outbox/'))
      assert.equal(again.status(ids[0])?.state, 'delivered')
      assert.deepEqual((await again.pending()).map(e => e.id), ids.slice(1))
      assert.equal((await again.accept('peer:B', seq => sampleEnvelope({ id: createMessageId(), seq }))).seq, 6)
      await reopened.close()
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
