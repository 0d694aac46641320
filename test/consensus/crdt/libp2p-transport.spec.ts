import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { createLibp2p } from 'libp2p'
import { tcp } from '@libp2p/tcp'
import { noise } from '@libp2p/noise'
import { yamux } from '@libp2p/yamux'
import { identify } from '@libp2p/identify'
import { gossipsub } from '@libp2p/gossipsub'
import { MemoryStore } from '../../../src/storage/memory.ts'
import { DocReplicator, Libp2pDocTransport, type DocStream, type Libp2pWithPubsub } from '../../../src/consensus/crdt/index.ts'

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
