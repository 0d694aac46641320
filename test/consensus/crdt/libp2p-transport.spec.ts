import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { createLibp2p } from 'libp2p'
import { tcp } from '@libp2p/tcp'
import { noise } from '@libp2p/noise'
import { yamux } from '@libp2p/yamux'
import { identify } from '@libp2p/identify'
import { gossipsub } from '@libp2p/gossipsub'
import { MemoryStore } from '../../../src/storage/memory.ts'
import type { Stream } from '@libp2p/interface'
import { DocReplicator, Libp2pDocStream, Libp2pDocTransport, type DocStream, type Libp2pWithPubsub } from '../../../src/consensus/crdt/index.ts'

async function createNode (): Promise<Libp2pWithPubsub> {
  return await createLibp2p({
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: {
      identify: identify(),
      pubsub: gossipsub({ allowPublishToZeroTopicPeers: true, emitSelf: false, floodPublish: true })
    }
  }) as unknown as Libp2pWithPubsub
}

async function waitFor (pred: () => boolean, what: string, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 20))
  }
}

describe('Libp2pDocStream reading', () => {
  it('reads frames out of chunks of several buffers, cut anywhere (length prefixes included)', async () => {
    const frames = [new Uint8Array([7]), new Uint8Array(300).fill(8), new Uint8Array(70_000).fill(9), new Uint8Array(128).fill(10)]
    const bytes: number[] = []
    for (const f of frames) {
      let n = f.byteLength
      while (n > 0x7f) { bytes.push((n & 0x7f) | 0x80); n >>>= 7 }
      bytes.push(n)
      bytes.push(...f)
    }
    const wire = Uint8Array.from(bytes)
    // every cut point inside the first 310 bytes (the first frames and both prefixes), and some further on
    const cuts = [...Array.from({ length: 310 }, (_, i) => i + 1), 40_000, 70_303, 70_304, 70_305]
    for (const cut of cuts) {
      const bounds = [...new Set([0, cut, cut + 5, 70_306, wire.byteLength])].filter(x => x <= wire.byteLength).sort((x, y) => x - y)
      const buffers = bounds.slice(1).map((end, i) => wire.subarray(bounds[i], end))
      // libp2p hands over a Uint8ArrayList: an iterable of buffers, here two chunks of two buffers
      const chunks = [buffers.slice(0, 2), buffers.slice(2)].filter(c => c.length > 0)
      const stream = { async * [Symbol.asyncIterator] () { yield * chunks } } as unknown as Stream
      const got: Uint8Array[] = []
      for await (const f of new Libp2pDocStream(stream)) got.push(f)
      assert.deepEqual(got.map(f => f.byteLength), frames.map(f => f.byteLength), `cut at ${cut}`)
      got.forEach((f, i) => assert.ok(f.every(x => x === frames[i][0]), `frame ${i} content, cut at ${cut}`))
    }
  })
})

describe('Libp2pDocTransport', () => {
  let a: Libp2pWithPubsub
  let b: Libp2pWithPubsub
  before(async () => {
    a = await createNode()
    b = await createNode()
    await a.dial(b.getMultiaddrs()[0])
  })
  after(async () => {
    await a?.stop()
    await b?.stop()
  })

  it('carries frames whole and in order over a libp2p stream', async () => {
    const ta = new Libp2pDocTransport(a); const tb = new Libp2pDocTransport(b)
    const received: Uint8Array[] = []
    let ended!: () => void
    const done = new Promise<void>(resolve => { ended = resolve })
    const unhandle = tb.handle('/agentmesh/test-frames/1.0.0', (stream: DocStream) => {
      void (async () => {
        for await (const f of stream) received.push(f)
        await stream.close()
        ended()
      })()
    })
    await waitFor(() => b.getProtocols().includes('/agentmesh/test-frames/1.0.0'), 'handler registered')
    const stream = await ta.openStream(b.peerId.toString(), '/agentmesh/test-frames/1.0.0')
    const max = stream.maxFrameBytes
    assert.ok(max >= 32 * 1024 * 1024, 'libp2p streams take a whole message of the largest doc as one frame')
    const sizes = [1, 127, 128, 16 * 1024, 3000, 0, 5_000_000, 200_000, 70_001]
    for (const [i, n] of sizes.entries()) {
      const frame = new Uint8Array(n).fill(i + 1)
      // big frames also go out as parts (a header and views), as the sync session sends them
      if (n > 100_000) await stream.send([frame.subarray(0, 3), frame.subarray(3, 70_000), frame.subarray(70_000)])
      else await stream.send(frame)
    }
    await assert.rejects(stream.send(new Uint8Array(max + 1)), { name: 'InvalidMessageError' })
    await stream.close()
    await done
    unhandle()
    assert.deepEqual(received.map(f => f.byteLength), sizes)
    received.forEach((f, i) => assert.ok(f.every(x => x === i + 1)))
  })

  it('refuses a frame whose length prefix exceeds the frame limit', async () => {
    const tb = new Libp2pDocTransport(b)
    let failure: Error | undefined
    let settled!: () => void
    const done = new Promise<void>(resolve => { settled = resolve })
    const unhandle = tb.handle('/agentmesh/test-bad-frames/1.0.0', (stream: DocStream) => {
      void (async () => {
        try { for await (const _ of stream) { /* drain */ } } catch (err) { failure = err as Error; stream.abort(err as Error) }
        settled()
      })()
    })
    await waitFor(() => b.getProtocols().includes('/agentmesh/test-bad-frames/1.0.0'), 'handler registered')
    const raw = await a.dialProtocol(b.peerId, '/agentmesh/test-bad-frames/1.0.0')
    // a length of 256 MiB - 1: past the frame limit (refused before any of it arrives)
    raw.send(Uint8Array.from([0xff, 0xff, 0xff, 0x7f, 1, 2, 3]))
    await done
    unhandle()
    raw.abort(new Error('test over'))
    assert.equal(failure?.name, 'InvalidMessageError')
  })

  it('replicates a doc between two libp2p peers, a 1.2 MB update included', async () => {
    const ra = new DocReplicator({ transport: new Libp2pDocTransport(a), store: new MemoryStore() }, { mesh: 't', antiEntropyIntervalMs: 300 })
    const rb = new DocReplicator({ transport: new Libp2pDocTransport(b), store: new MemoryStore() }, { mesh: 't', antiEntropyIntervalMs: 300 })
    await ra.start(); await rb.start()
    try {
      const da = await ra.replicateState('shared', { replicas: 1 })
      const db = await rb.replicateState('shared', { replicas: 1 })
      da.getMap('m').set('hello', 'world')
      await waitFor(() => db.getMap('m').get('hello') === 'world', 'small update')
      const big = 'y'.repeat(1_200_000)
      db.getText('t').insert(0, big)
      await waitFor(() => da.getText('t').length === big.length, 'big update')
      assert.equal(da.getText('t').toString(), big)
      await ra.flush(da, { minReplicas: 1, signal: AbortSignal.timeout(20_000) })
    } finally {
      await ra.stop(); await rb.stop()
    }
  })
})
