/**
 * Real processes: a relay and Node peers started with the CLI; a SIGKILLed peer is marked failed
 * through its closed connections, a SIGSTOPped one through heartbeat silence (its sockets stay
 * open), and it recovers on SIGCONT.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { startProcess, getJson, waitUntil, type PeerProcess } from '../helpers/processes.ts'

interface NodeView { peerId: string, status: string, reason?: string }

describe('failure detection between processes', () => {
  let relay: PeerProcess
  const peers: PeerProcess[] = []

  before(async () => {
    relay = await startProcess(['relay', '--port', '0', '--http-port', '0', '--mesh', 'fd-test'])
    const boot = relay.ready.multiaddrs.join(',')
    for (let i = 0; i < 3; i++) peers.push(await startProcess(['node', '--bootstrap', boot, '--http-port', '0', '--mesh', 'fd-test']))
    await waitUntil(async () => {
      for (const p of [relay, ...peers]) {
        const nodes = await getJson<NodeView[]>(p, '/nodes')
        if (nodes.filter(n => n.status === 'alive').length < 3) return false
      }
      return true
    }, 20_000, 'full membership over HTTP')
  })

  after(async () => {
    await Promise.all([relay, ...peers].map(async p => { await p?.stop() }))
  })

  it('a SIGKILLed peer is marked failed by every other peer through its closed connections, not by waiting', async () => {
    const victim = peers[2]
    victim.kill('SIGKILL')
    await waitUntil(async () => {
      for (const p of [relay, peers[0], peers[1]]) {
        const nodes = await getJson<NodeView[]>(p, '/nodes')
        if (nodes.find(n => n.peerId === victim.ready.peerId)?.status !== 'failed') return false
      }
      return true
    }, 5000, 'the killed peer to be marked failed')
    // the fast path: the closed connection triggered a probe that found it gone (or a peer's
    // report of that), rather than heartbeat silence (bench/ measures how fast)
    for (const p of [relay, peers[0], peers[1]]) {
      const v = (await getJson<NodeView[]>(p, '/nodes')).find(n => n.peerId === victim.ready.peerId)
      assert.match(v?.reason ?? '', /unreachable|reported by/)
    }
  })

  it('a SIGSTOPped peer (sockets still open) is marked failed by heartbeat silence and recovers on SIGCONT', async () => {
    const victim = peers[1]
    victim.kill('SIGSTOP')
    try {
      await waitUntil(async () => {
        const nodes = await getJson<NodeView[]>(peers[0], '/nodes')
        return nodes.find(n => n.peerId === victim.ready.peerId)?.status === 'failed'
      }, 6000, 'the paused peer to be marked failed')
      const v = (await getJson<NodeView[]>(peers[0], '/nodes')).find(n => n.peerId === victim.ready.peerId)
      assert.match(v?.reason ?? '', /no heartbeat/)
    } finally {
      victim.kill('SIGCONT')
    }
    await waitUntil(async () => {
      const nodes = await getJson<NodeView[]>(peers[0], '/nodes')
      return nodes.find(n => n.peerId === victim.ready.peerId)?.status === 'alive'
    }, 6000, 'the resumed peer to recover')
  })
})
