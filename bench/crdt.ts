/**
 * npm run bench -- crdt [--quick]
 *
 * Replicated Yjs documents: DocReplicator over libp2p (4 in-process Node peers built like the
 * production ones with createMeshLibp2p, linked over TCP on 127.0.0.1; gossipsub + /agentmesh/sync/1.0.0) side by side with y-websocket 1.5.4 (its server and 4 clients,
 * measured in the same run; which side goes first alternates from run to run):
 * 1. 10,000 Y.Map sets on one peer, in a synchronous loop: time until the 3 other docs have them all.
 * 2. late joiners catch up a ~5.3 MB doc: time from asking for the doc until holding all of it.
 *    Both sides hold the whole doc in memory first (our holder flushed, y-websocket's server has
 *    applied every update of it), and JOINS late
 *    joiners per run ask for it, ours and y-websocket's taking turns. Ours is a fresh peer already
 *    in the mesh (connected to the 4 peers, identify done): it asks with replicateState(syncFrom),
 *    which opens a sync stream on that connection. y-websocket's is a fresh provider: its
 *    connection is per document, so opening it is part of asking. The first joiner of a run is
 *    reported apart: it is the one the holder/server encodes the doc for (ours keeps that
 *    encoding for the next joiners, y-websocket's server encodes it again for each).
 * Before the first run, one unmeasured late join of a small doc on each side warms both up.
 */
import { createServer, type Server } from 'node:http'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { Multiaddr } from '@multiformats/multiaddr'
import { WebSocketServer, WebSocket as WsWebSocket } from 'ws'
import * as Y from 'yjs'
import { WebsocketProvider } from 'y-websocket'
// @ts-expect-error the server helper of y-websocket 1.5.4 ships without types
import { setupWSConnection, docs as serverDocs } from 'y-websocket/bin/utils'
import { DocReplicator, Libp2pDocTransport, type Libp2pWithPubsub } from '../src/consensus/crdt/index.ts'
import { MemoryStore } from '../src/storage/memory.ts'
import { createMeshLibp2p, type MeshLibp2p } from '../src/network/index.ts'
import { fmt, median, table } from './_stats.ts'

const quick = process.argv.includes('--quick')
const SETS = 10_000
const BIG_BYTES = 5_300_000
const RUNS = quick ? 1 : Number(process.env.RUNS ?? 5)
/** late joiners per run and side */
const JOINS = quick ? 2 : Number(process.env.JOINS ?? 3)
/** the joiner's own start-up (identify, discovery, DHT) is quiet this long before it asks */
const SETTLE_MS = 300

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

function bigText (doc: Y.Doc, bytes = BIG_BYTES): void {
  const chunk = 'b'.repeat(100_000)
  for (let n = 0; n < bytes; n += chunk.length) doc.getText('t').insert(doc.getText('t').length, chunk)
}

const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }

/** one side of the comparison, set up for a run: fan-out figure taken, a doc held for late joiners */
interface Side {
  fanout: () => Promise<number>
  /** makes `docId` (bytes of text) held by the holder / server */
  hold: (docId: string, bytes?: number) => Promise<void>
  /** one late joiner of `docId`: ms from asking until it holds the whole doc */
  lateJoin: (docId: string) => Promise<number>
  close: () => Promise<void>
}

async function ours (run: number): Promise<Side> {
  const peers = [await meshPeer(), await meshPeer(), await meshPeer(), await meshPeer()]
  const held = new Map<string, Y.Doc>()
  try {
    for (let i = 0; i < peers.length; i++) {
      for (let j = i + 1; j < peers.length; j++) await peers[i].libp2p.dial(tcpAddr(peers[j]))
    }
  } catch (err) {
    for (const p of peers) await stopPeer(p)
    throw err
  }
  return {
    fanout: async () => {
      const docs = await Promise.all(peers.map(async p => await p.replicator.replicateState(`fan-${run}`, { replicas: 0 })))
      docs[0].getMap('m').set('warm', 1)
      await waitFor(() => docs.every(d => d.getMap('m').get('warm') === 1), 'warm-up')
      const t0 = performance.now()
      for (let i = 0; i < SETS; i++) docs[0].getMap('m').set(`k${i}`, i)
      await waitFor(() => docs.every(d => d.getMap('m').size === SETS + 1), 'fan-out')
      return performance.now() - t0
    },
    hold: async (docId, bytes) => {
      const big = await peers[0].replicator.replicateState(docId, { replicas: 0 })
      bigText(big, bytes)
      // like the time y-websocket's server gets to take the doc: the holder's writes are done
      await peers[0].replicator.flush(big, { minReplicas: 0 })
      held.set(docId, big)
    },
    lateJoin: async (docId) => {
      const big = held.get(docId)
      if (big == null) throw new Error(`${docId} not held`)
      const joiner = await meshPeer()
      try {
        const identified = new Set<string>()
        const onIdentify = (e: CustomEvent<{ peerId: { toString: () => string } }>): void => { identified.add(e.detail.peerId.toString()) }
        joiner.libp2p.addEventListener('peer:identify', onIdentify)
        for (const p of peers) await joiner.libp2p.dial(tcpAddr(p))
        // settled: identify done with the peers (an identify lost under load only costs the wait)
        const until = performance.now() + 10_000
        while (!peers.every(p => identified.has(p.libp2p.peerId.toString())) && performance.now() < until) await sleep(5)
        joiner.libp2p.removeEventListener('peer:identify', onIdentify)
        await sleep(SETTLE_MS)
        const t1 = performance.now()
        const doc = await joiner.replicator.replicateState(docId, { replicas: 0, syncFrom: [peers[0].libp2p.peerId.toString()] })
        await waitFor(() => doc.getText('t').length === big.getText('t').length, 'late join')
        return performance.now() - t1
      } finally {
        await stopPeer(joiner)
      }
    },
    close: async () => { for (const p of peers) await stopPeer(p) }
  }
}

async function yWebsocket (run: number): Promise<Side> {
  const http: Server = createServer()
  const wss = new WebSocketServer({ server: http })
  wss.on('connection', (conn: unknown, req: unknown) => { setupWSConnection(conn, req) })
  await new Promise<void>(resolve => http.listen(0, '127.0.0.1', resolve))
  const { port } = http.address() as { port: number }
  const url = `ws://127.0.0.1:${port}`
  const providers: WebsocketProvider[] = []
  const held = new Map<string, Y.Doc>()
  const client = async (room: string): Promise<{ doc: Y.Doc, provider: WebsocketProvider }> => {
    const doc = new Y.Doc()
    const p = new WebsocketProvider(url, room, doc, { WebSocketPolyfill: WsWebSocket as unknown as typeof WebSocket, disableBc: true })
    providers.push(p)
    await new Promise<void>(resolve => { if (p.synced) resolve(); else p.once('synced', () => { resolve() }) })
    return { doc, provider: p }
  }
  return {
    fanout: async () => {
      const docs = [] as Y.Doc[]
      for (let i = 0; i < 4; i++) docs.push((await client(`fan-${run}`)).doc)
      const t0 = performance.now()
      for (let i = 0; i < SETS; i++) docs[0].getMap('m').set(`k${i}`, i)
      await waitFor(() => docs.every(d => d.getMap('m').size === SETS), 'fan-out')
      return performance.now() - t0
    },
    hold: async (docId, bytes) => {
      const { doc } = await client(docId)
      bigText(doc, bytes)
      // like our holder's flush: the server holds the whole doc before anyone joins
      const length = doc.getText('t').length
      await waitFor(() => (serverDocs as Map<string, Y.Doc>).get(docId)?.getText('t').length === length, 'server holds the doc')
      held.set(docId, doc)
    },
    lateJoin: async (docId) => {
      const big = held.get(docId)
      if (big == null) throw new Error(`${docId} not held`)
      const t1 = performance.now()
      const doc = new Y.Doc()
      const p = new WebsocketProvider(url, docId, doc, { WebSocketPolyfill: WsWebSocket as unknown as typeof WebSocket, disableBc: true })
      try {
        await waitFor(() => doc.getText('t').length === big.getText('t').length, 'late join')
        return performance.now() - t1
      } finally {
        p.destroy()
      }
    },
    close: async () => {
      for (const p of providers) p.destroy()
      for (const c of wss.clients) c.terminate()
      wss.close()
      await new Promise(resolve => http.close(resolve))
    }
  }
}

interface Figures { fanout: number[], firstJoin: number[], laterJoins: number[] }
const mine: Figures = { fanout: [], firstJoin: [], laterJoins: [] }
const theirs: Figures = { fanout: [], firstJoin: [], laterJoins: [] }
for (let run = 0; run < RUNS; run++) {
  const sides: Array<[Side, Figures]> = [[await ours(run), mine], [await yWebsocket(run), theirs]]
  if (run % 2 === 1) sides.reverse()
  try {
    if (run === 0) {
      for (const [side] of sides) { await side.hold('warm', 500_000); await side.lateJoin('warm') }
    }
    for (const [side, figures] of sides) figures.fanout.push(await side.fanout())
    for (const [side] of sides) await side.hold(`big-${run}`)
    for (let j = 0; j < JOINS; j++) {
      for (const [side, figures] of sides) (j === 0 ? figures.firstJoin : figures.laterJoins).push(await side.lateJoin(`big-${run}`))
    }
  } finally {
    for (const [side] of sides) await side.close()
  }
}
/** median (min–max) of the samples */
const summary = (xs: number[]): string => xs.length === 0 ? '–' : xs.length === 1 ? fmt(xs[0]) : `${fmt(median(xs))} (${fmt(Math.min(...xs))}–${fmt(Math.max(...xs))})`
console.log(`median (min–max); ${RUNS} run(s), ${JOINS} late joiner(s) per run and side; 4 peers on loopback, 2 cores shared`)
table(['what', 'agentmesh (libp2p)', 'y-websocket 1.5.4'], [
  [`${SETS} Y.Map sets reach 3 other docs (ms)`, summary(mine.fanout), summary(theirs.fanout)],
  ['first late joiner catches up a 5.3 MB doc (ms)', summary(mine.firstJoin), summary(theirs.firstJoin)],
  ['next late joiners of it (ms)', summary(mine.laterJoins), summary(theirs.laterJoins)],
  ['all late joiners (ms)', summary([...mine.firstJoin, ...mine.laterJoins]), summary([...theirs.firstJoin, ...theirs.laterJoins])]
])
if (process.env.BENCH_JSON != null) console.log(JSON.stringify({ mine, theirs }))
process.exit(0)
