import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { startProcess, getJson, waitUntil, type PeerProcess } from '../helpers/processes.ts'

describe('monitoring over the admin API of a running mesh', () => {
  let relay: PeerProcess
  let peer: PeerProcess

  before(async () => {
    relay = await startProcess(['relay', '--port', '0', '--http-port', '0', '--mesh', 'mon-test'])
    peer = await startProcess(['node', '--bootstrap', relay.ready.multiaddrs.join(','), '--http-port', '0', '--mesh', 'mon-test'])
  })
  after(async () => { await Promise.all([relay, peer].map(async p => await p?.stop())) })

  it('/health reports each component and an overall status', async () => {
    const res = await fetch(peer.ready.http + '/health')
    const body = await res.json() as { status: string, components: Record<string, { status: string }> }
    assert.equal(res.status, 200)
    assert.ok(['ok', 'degraded'].includes(body.status))
    assert.ok('network' in body.components && 'storage' in body.components)
  })

  it('/metrics is Prometheus text with the network gauges', async () => {
    // the ready line does not wait for the first connection: a loaded machine may print it first
    let text = ''
    await waitUntil(async () => {
      const res = await fetch(peer.ready.http + '/metrics')
      assert.match(res.headers.get('content-type') ?? '', /text\/plain/)
      text = await res.text()
      return /agentmesh_network_connections\{transport="(tcp|websockets)"\} [1-9]/.test(text)
    }, 15_000, 'the peer\'s connection to the relay in /metrics')
    assert.match(text, /# TYPE agentmesh_network_members gauge/)
    // libp2p's own metrics ride along
    assert.match(text, /^libp2p_[a-z_]+/m)
    // every metric family is declared once (the two registries must not clash)
    const types = [...text.matchAll(/^# TYPE (\S+) /gm)].map(m => m[1])
    assert.equal(new Set(types).size, types.length)
  })

  it('/mesh shows every peer\'s snapshot, gossiped on the monitoring topic', async () => {
    await waitUntil(async () => {
      const snaps = await getJson<Array<{ peerId: string }>>(relay, '/mesh')
      return [relay.ready.peerId, peer.ready.peerId].every(id => snaps.some(s => s.peerId === id))
    }, 15_000, 'both snapshots at the relay')
  })

  it('/traces and /alerts answer lists', async () => {
    assert.ok(Array.isArray(await getJson(peer, '/traces?limit=5')))
    assert.ok(Array.isArray(await getJson(peer, '/alerts')))
    const bad = await fetch(peer.ready.http + '/traces?limit=abc')
    assert.equal(bad.status, 400)
  })
})
