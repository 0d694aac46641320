/**
 * A publisher that crashes and restarts on the same --data must not reuse publication sequence
 * numbers: subscribers drop a seq they have seen, so a reused one would silently lose messages.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { tmpdir } from 'node:os'
import { startProcess, waitUntil, type PeerProcess } from '../helpers/processes.ts'

describe('a publisher restarted after a crash', () => {
  let relay: PeerProcess
  let subscriber: PeerProcess
  let publisher: PeerProcess
  const dir = mkdtempSync(join(tmpdir(), 'agentmesh-pub-'))
  const seen: unknown[] = []
  const abort = new AbortController()

  before(async () => {
    relay = await startProcess(['relay', '--port', '0', '--http-port', '0', '--mesh', 'pub-restart'])
    const boot = relay.ready.multiaddrs.join(',')
    subscriber = await startProcess(['node', '--bootstrap', boot, '--http-port', '0', '--mesh', 'pub-restart'])
    publisher = await startProcess(['node', '--bootstrap', boot, '--http-port', '0', '--mesh', 'pub-restart', '--data', dir])
    const res = await fetch(`${subscriber.ready.http}/topics/news/events`, { signal: abort.signal })
    void (async () => {
      const decoder = new TextDecoder(); let buf = ''
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        buf += decoder.decode(chunk, { stream: true })
        let i: number
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const data = buf.slice(0, i).split('\n').filter(l => l.startsWith('data:')).map(l => l.slice(5).trim()).join('')
          buf = buf.slice(i + 2)
          if (data !== '') seen.push((JSON.parse(data) as { message: unknown }).message)
        }
      }
    })().catch(() => {})
  })
  after(async () => {
    abort.abort()
    await Promise.all([relay, subscriber, publisher].map(async p => await p?.stop()))
    rmSync(dir, { recursive: true, force: true })
  })

  const publish = async (p: PeerProcess, n: number): Promise<number> => {
    const res = await fetch(`${p.ready.http}/topics/news`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ message: { n } }) })
    assert.equal(res.status, 202)
    return ((await res.json()) as { recipients: number }).recipients
  }

  it('gets its new publications delivered, not dropped as duplicates of the old ones', async () => {
    // until the subscription has propagated, publications may reach nobody: publish until one lands
    let n = 0
    await waitUntil(async () => { await publish(publisher, ++n); await new Promise(r => setTimeout(r, 150)); return seen.length > 0 }, 15_000, 'a first publication to arrive')
    for (let i = 0; i < 5; i++) await publish(publisher, ++n)
    await waitUntil(async () => seen.some(m => (m as { n: number }).n === n), 10_000, 'the burst to arrive')

    publisher.kill('SIGKILL')
    await publisher.stop()
    publisher = await startProcess(['node', '--bootstrap', relay.ready.multiaddrs.join(','), '--http-port', '0', '--mesh', 'pub-restart', '--data', dir])
    // publish until gossipsub hands one to a peer; that one must be delivered (a reused seq would be
    // dropped by the subscriber as a duplicate); it may wait out the subscriber's gap timeout
    let k = n + 1000
    await waitUntil(async () => (await publish(publisher, ++k)) > 0 || (await new Promise(r => setTimeout(r, 200)), false), 15_000, 'the restarted publisher to reach a peer')
    const first = k
    await waitUntil(async () => seen.some(m => (m as { n: number }).n === first), 30_000, `publication ${first} to arrive`)
  })
})
