/**
 * npm run bench -- crdt [--quick]
 *
 * Replicated Yjs documents: DocReplicator over libp2p (4 in-process Node peers built like the
 * production ones with createMeshLibp2p, linked over TCP on 127.0.0.1; gossipsub + /agentmesh/sync/1.0.0) side by side with y-websocket 1.5.4 (its server and 4 clients,
 * measured in the same run):
 * 1. 10,000 Y.Map sets on one peer, in a synchronous loop: time until the 3 other docs have them all.
 * 2. a late joiner catches up a ~5.3 MB doc: time from joining until it holds the whole doc.
 */
import { createServer, type Server } from 'node:http'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { Multiaddr } from '@multiformats/multiaddr'
import { WebSocketServer, WebSocket as WsWebSocket } from 'ws'
import * as Y from 'yjs'
import { WebsocketProvider } from 'y-websocket'
// @ts-expect-error the server helper of y-websocket 1.5.4 ships without types
import { setupWSConnection } from 'y-websocket/bin/utils'
import { DocReplicator, Libp2pDocTransport, type Libp2pWithPubsub } from '../src/consensus/crdt/index.ts'
import { MemoryStore } from '../src/storage/memory.ts'
import { createMeshLibp2p, type MeshLibp2p } from '../src/network/index.ts'
import { fmt, median, table } from './_stats.ts'

const quick = process.argv.includes('--quick')
const SETS = 10_000
const BIG_BYTES = 5_300_000
const RUNS = quick ? 1 : Number(process.env.RUNS ?? 5)

async function waitFor (pred: () => boolean, what: string, ms = 120_000): Promise<void> {
  const deadline = Date.now() + ms
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 2))
  }
}

interface Peer { libp2p: MeshLibp2p, replicator: DocReplicator }

/** a peer as `src/node.ts` builds one: createMeshLibp2p (TCP + WebSockets, gossipsub, DHT, discovery) */
async function meshPeer (): Promise<Peer> {
  const libp2p = await createMeshLibp2p({ privateKey: await generateKeyPair('Ed25519'), mesh: 'bench-crdt', role: 'node', localMesh: true })
  const replicator = new DocReplicator({ transport: new Libp2pDocTransport(libp2p as unknown as Libp2pWithPubsub), store: new MemoryStore() }, { mesh: 'bench-crdt', antiEntropyIntervalMs: 1000 })
  await replicator.start()
  return { libp2p, replicator }
}

/** Node peers link over TCP (the WebSocket listener is what tabs dial) */
function tcpAddr (p: Peer): Multiaddr {
  const addr = p.libp2p.getMultiaddrs().find(a => !a.toString().includes('/ws'))
  if (addr == null) throw new Error('peer has no TCP address')
  return addr
}

async function stopPeer (p: Peer): Promise<void> {
  await p.replicator.stop()
  await p.libp2p.stop()
}

function bigText (doc: Y.Doc): void {
  const chunk = 'b'.repeat(100_000)
  for (let n = 0; n < BIG_BYTES; n += chunk.length) doc.getText('t').insert(doc.getText('t').length, chunk)
}

async function ours (run: number): Promise<{ fanout: number, lateJoin: number }> {
  const peers = [await meshPeer(), await meshPeer(), await meshPeer(), await meshPeer()]
  try {
    for (let i = 0; i < peers.length; i++) {
      for (let j = i + 1; j < peers.length; j++) await peers[i].libp2p.dial(tcpAddr(peers[j]))
    }
    const docs = await Promise.all(peers.map(async p => await p.replicator.replicateState(`fan-${run}`, { replicas: 0 })))
    docs[0].getMap('m').set('warm', 1)
    await waitFor(() => docs.every(d => d.getMap('m').get('warm') === 1), 'warm-up')
    const t0 = performance.now()
    for (let i = 0; i < SETS; i++) docs[0].getMap('m').set(`k${i}`, i)
    await waitFor(() => docs.every(d => d.getMap('m').size === SETS + 1), 'fan-out')
    const fanout = performance.now() - t0

    const big = await peers[0].replicator.replicateState(`big-${run}`, { replicas: 0 })
    bigText(big)
    // like the 500 ms y-websocket's server gets to take the doc: the holder's writes are done
    await peers[0].replicator.flush(big, { minReplicas: 0 })
    const joiner = await meshPeer()
    try {
      await joiner.libp2p.dial(tcpAddr(peers[0]))
      const t1 = performance.now()
      const doc = await joiner.replicator.replicateState(`big-${run}`, { replicas: 0, syncFrom: [peers[0].libp2p.peerId.toString()] })
      await waitFor(() => doc.getText('t').length === big.getText('t').length, 'late join')
      return { fanout, lateJoin: performance.now() - t1 }
    } finally {
      await stopPeer(joiner)
    }
  } finally {
    for (const p of peers) await stopPeer(p)
  }
}

async function yWebsocket (run: number): Promise<{ fanout: number, lateJoin: number }> {
  const http: Server = createServer()
  const wss = new WebSocketServer({ server: http })
  wss.on('connection', (conn: unknown, req: unknown) => { setupWSConnection(conn, req) })
  await new Promise<void>(resolve => http.listen(0, '127.0.0.1', resolve))
  const { port } = http.address() as { port: number }
  const url = `ws://127.0.0.1:${port}`
  const providers: WebsocketProvider[] = []
  const client = async (room: string): Promise<Y.Doc> => {
    const doc = new Y.Doc()
    const p = new WebsocketProvider(url, room, doc, { WebSocketPolyfill: WsWebSocket as unknown as typeof WebSocket, disableBc: true })
    providers.push(p)
    await new Promise<void>(resolve => { if (p.synced) resolve(); else p.once('synced', () => { resolve() }) })
    return doc
  }
  try {
    const docs = [await client(`fan-${run}`), await client(`fan-${run}`), await client(`fan-${run}`), await client(`fan-${run}`)]
    const t0 = performance.now()
    for (let i = 0; i < SETS; i++) docs[0].getMap('m').set(`k${i}`, i)
    await waitFor(() => docs.every(d => d.getMap('m').size === SETS), 'fan-out')
    const fanout = performance.now() - t0

    const big = await client(`big-${run}`)
    bigText(big)
    await new Promise(resolve => setTimeout(resolve, 500)) // let the server take the big doc first
    const t1 = performance.now()
    const doc = await client(`big-${run}`)
    await waitFor(() => doc.getText('t').length === big.getText('t').length, 'late join')
    return { fanout, lateJoin: performance.now() - t1 }
  } finally {
    for (const p of providers) p.destroy()
    for (const c of wss.clients) c.terminate()
    wss.close()
    await new Promise(resolve => http.close(resolve))
  }
}

const mine: Array<{ fanout: number, lateJoin: number }> = []
const theirs: Array<{ fanout: number, lateJoin: number }> = []
for (let run = 0; run < RUNS; run++) {
  mine.push(await ours(run))
  theirs.push(await yWebsocket(run))
}
/** median (min–max) of the runs */
const summary = (xs: number[]): string => RUNS === 1 ? fmt(xs[0]) : `${fmt(median(xs))} (${fmt(Math.min(...xs))}–${fmt(Math.max(...xs))})`
console.log(`median (min–max) of ${RUNS} run(s); 4 peers on loopback, 2 cores shared`)
table(['what', 'agentmesh (libp2p)', 'y-websocket 1.5.4'], [
  [`${SETS} Y.Map sets reach 3 other docs (ms)`, summary(mine.map(r => r.fanout)), summary(theirs.map(r => r.fanout))],
  ['late joiner catches up a 5.3 MB doc (ms)', summary(mine.map(r => r.lateJoin)), summary(theirs.map(r => r.lateJoin))]
])
process.exit(0)
