import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { tmpdir } from 'node:os'
import { startProcess, getJson } from '../helpers/processes.ts'

describe('agentmesh relay/node processes', () => {
  it('print one ready line, serve /node, and keep their identity across a restart with the same --data', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'agentmesh-cli-'))
    try {
      const first = await startProcess(['relay', '--port', '0', '--http-port', '0', '--data', dir])
      assert.match(first.ready.peerId, /^12D3Koo/)
      assert.ok(first.ready.multiaddrs.some(a => a.includes('/ws/p2p/' + first.ready.peerId)))
      const self = await getJson<{ peerId: string, role: string }>(first, '/node')
      assert.equal(self.peerId, first.ready.peerId)
      assert.equal(self.role, 'relay')
      assert.equal(await first.stop(), 0, 'SIGTERM stops it cleanly with exit code 0')

      const second = await startProcess(['relay', '--port', '0', '--http-port', '0', '--data', dir])
      assert.equal(second.ready.peerId, first.ready.peerId)
      assert.equal(await second.stop(), 0)

      const fresh = await startProcess(['relay', '--port', '0', '--http-port', '0'])
      assert.notEqual(fresh.ready.peerId, first.ready.peerId, 'without --data a peer is new each time')
      await fresh.stop()
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('answer unknown paths and bad bodies with JSON errors and keep serving', async () => {
    const p = await startProcess(['relay', '--port', '0', '--http-port', '0'])
    try {
      const res = await fetch(p.ready.http + '/no/such/path')
      assert.equal(res.status, 404)
      const body = await res.json() as { error: { name: string, message: string } }
      assert.equal(typeof body.error.name, 'string')
      const nodes = await fetch(p.ready.http + '/nodes')
      assert.equal(nodes.status, 200)
      assert.ok(Array.isArray(await nodes.json()))
      const topo = await getJson<{ nodes: unknown[], edges: unknown[] }>(p, '/topology')
      assert.equal(topo.nodes.length, 1)
    } finally {
      await p.stop()
    }
  })
})
