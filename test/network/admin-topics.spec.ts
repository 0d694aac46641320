import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { startProcess, waitUntil, type PeerProcess } from '../helpers/processes.ts'
import { readEvents } from '../helpers/sse.ts'

describe('topics over the admin API', () => {
  let relay: PeerProcess
  let a: PeerProcess
  let b: PeerProcess

  before(async () => {
    relay = await startProcess(['relay', '--port', '0', '--http-port', '0', '--mesh', 'topic-test'])
    a = await startProcess(['node', '--bootstrap', relay.ready.multiaddrs.join(','), '--http-port', '0', '--mesh', 'topic-test'])
    b = await startProcess(['node', '--bootstrap', relay.ready.multiaddrs.join(','), '--http-port', '0', '--mesh', 'topic-test'])
  })
  after(async () => { await Promise.all([relay, a, b].map(async p => await p?.stop())) })

  it('a message POSTed on one peer arrives as an event on another peer\'s stream', async () => {
    let open = false
    const events = readEvents(`${b.ready.http}/topics/news/events`, 1, AbortSignal.timeout(20_000), () => { open = true })
    await waitUntil(async () => open, 10_000, 'the event stream to open')
    // publish until the subscription has propagated through gossipsub, then stop
    let received: unknown[] | undefined
    events.then(e => { received = e }, () => {})
    await waitUntil(async () => {
      if (received != null) return true
      const res = await fetch(`${a.ready.http}/topics/news`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ message: { headline: 'hello' } }) })
      assert.equal(res.status, 202)
      await new Promise(resolve => setTimeout(resolve, 200))
      return received != null
    }, 15_000, 'the event on the other peer')
    const [event] = received as Array<{ from: string, message: unknown }>
    assert.deepEqual(event.message, { headline: 'hello' })
    assert.equal(event.from, a.ready.peerId)
  })

  it('refuses malformed JSON (400), a wrong shape (400) and an oversized body (413), and keeps serving', async () => {
    const post = async (body: string): Promise<Response> => await fetch(`${a.ready.http}/topics/news`, { method: 'POST', headers: { 'content-type': 'application/json' }, body })
    const bad = await post('{"message": ')
    assert.equal(bad.status, 400)
    assert.equal(((await bad.json()) as { error: { name: string } }).error.name, 'InvalidMessageError')
    assert.equal((await post('{"msg": 1}')).status, 400)
    const big = await post(JSON.stringify({ message: 'x'.repeat(2 * 1024 * 1024) }))
    assert.equal(big.status, 413)
    const badTopic = await fetch(`${a.ready.http}/topics/${'x'.repeat(200)}`, { method: 'POST', body: '{"message":1}' })
    assert.equal(badTopic.status, 400)
    assert.equal((await post('{"message": 1}')).status, 202)
  })
})
