/**
 * One member of `npm run bench -- kv --layers` (started by bench/kv.ts, three at once): a
 * replicated key-value store over the same fixed stack as our peers (libp2p with TCP, Noise and
 * meshYamux; node:http with keep-alive; a log written with O_DSYNC through libuv's thread pool),
 * with one of two things on top, so the table can tell what the stack costs from what our
 * consensus costs:
 * - `stack`: no Raft. The messages one of our puts and reads exchange, and nothing else. Member
 *   0 leads for good. A put sent to the leader: appends to both followers, its own log write
 *   after them; each follower writes and acks; answered after its write and one ack. A put sent
 *   to a follower is forwarded first and answered when the leader's commit notice comes back. A
 *   read on the leader: one heartbeat round (one ack); on a follower: one question to the leader,
 *   answered at once (the question counts as the follower's ack, as in our ReadIndex), then the
 *   value once applied to there. No terms, no elections, no recovery: a measuring rig only.
 * - `consensus`: our ConsensusManager (Raft core, driver, WAL, KV state machine, Libp2pRaftTransport)
 *   with a bare HTTP handler in place of the admin server, and a static membership in place of
 *   NetworkManager (no gossip, no DHT, no monitoring, no agents).
 *
 * Talks to bench/kv.ts over stdio, one JSON object per line. Out: `{ ready: { addr, http } }`
 * once listening; `{ linked: true }` once connected; `{ ann }` when consensus announces itself;
 * `{ status }` when asked. In: the members' addresses (an array), `{ ann }` of the others,
 * `{ status: true }`.
 */
import { closeSync, constants as fsConstants, fsyncSync, openSync, write, writeSync } from 'node:fs'
import { createServer } from 'node:http'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { createLibp2p } from 'libp2p'
import type { Libp2p, Stream } from '@libp2p/interface'
import { identify } from '@libp2p/identify'
import { noise } from '@libp2p/noise'
import { tcp } from '@libp2p/tcp'
import { multiaddr } from '@multiformats/multiaddr'
import { ConsensusManager } from '../src/consensus/index.ts'
import type { ConsensusNetwork, RaftAnnouncement } from '../src/consensus/index.ts'
import type { Member, NodeRecord, RaftRole } from '../src/network/index.ts'
import { meshYamux } from '../src/network/yamux-window.ts'
import { openStore } from '../src/platform/storage.node.ts'
import { raftLogOpener } from '../src/platform/raft-log.node.ts'
import { systemClock } from '../src/util/clock.ts'
import { systemRng } from '../src/util/prng.ts'

const mode = process.env.KV_LAYER
const index = Number(process.env.KV_LAYER_INDEX)
const dir = process.env.KV_LAYER_DIR ?? ''
if ((mode !== 'stack' && mode !== 'consensus') || !Number.isInteger(index) || dir === '') {
  console.error('usage: KV_LAYER=stack|consensus KV_LAYER_INDEX=n KV_LAYER_DIR=dir node bench/_kv-layer.ts')
  process.exit(2)
}
const say = (o: unknown): void => { console.log(JSON.stringify(o)) }

const libp2p = await createLibp2p({
  addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
  transports: [tcp()],
  connectionEncrypters: [noise()],
  streamMuxers: [meshYamux()],
  services: { identify: identify() }
})
const self = libp2p.peerId.toString()

interface Layer {
  put: (key: string, value: string) => Promise<number>
  get: (key: string) => Promise<string | undefined>
  /** the members' addresses, in order (ours among them): connect to the others */
  link: (addrs: string[], ids: string[]) => Promise<void>
  control?: (msg: Record<string, any>) => void
  stop: () => Promise<void>
}

const layer: Layer = mode === 'stack' ? await stackLayer(libp2p) : await consensusLayer(libp2p)

const server = createServer((req, res) => { serve(req, res).catch(err => { answer(res, 500, { error: String(err) }) }) })
server.keepAliveTimeout = 5_000
await new Promise<void>(resolve => { server.listen(0, '127.0.0.1', resolve) })
const port = (server.address() as { port: number }).port
say({ ready: { addr: libp2p.getMultiaddrs()[0].toString(), http: `http://127.0.0.1:${port}` } })

async function serve (req: IncomingMessage, res: ServerResponse): Promise<void> {
  const key = decodeURIComponent((req.url ?? '').replace(/^\/kv\//, ''))
  if (req.method === 'GET') {
    const value = await layer.get(key)
    answer(res, value === undefined ? 404 : 200, { key, value })
    return
  }
  const chunks: Buffer[] = []
  for await (const c of req) chunks.push(c as Buffer)
  const { value } = JSON.parse(Buffer.concat(chunks).toString()) as { value: string }
  answer(res, 200, { revision: await layer.put(key, value) })
}

function answer (res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body)
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) })
  res.end(text)
}

createInterface({ input: process.stdin }).on('line', line => {
  const msg = JSON.parse(line) as unknown
  if (!Array.isArray(msg)) { layer.control?.(msg as Record<string, any>); return }
  const addrs = msg as string[]
  const ids = addrs.map(a => multiaddr(a).getComponents().find(c => c.name === 'p2p')?.value ?? '')
  layer.link(addrs, ids).then(() => { say({ linked: true }) }, err => { console.error(err); process.exit(1) })
})
process.on('SIGTERM', () => {
  server.close()
  layer.stop().then(async () => { await libp2p.stop() }).finally(() => process.exit(0))
})

/** our ConsensusManager over this libp2p, with the members fixed */
async function consensusLayer (node: Libp2p): Promise<Layer> {
  const others = new Map<string, RaftAnnouncement | undefined>()
  let role: RaftRole = 'none'
  let announced: RaftAnnouncement | undefined
  const record = (peerId: string, raft: RaftRole, ann: RaftAnnouncement | undefined): NodeRecord => ({
    peerId, mesh: 'bench', role: 'node', raft, addrs: [], capabilities: { cpu: 1, memoryMb: 1, tags: [], kinds: [] },
    load: { cpu: 0, memoryMb: 0, agents: 0 }, links: [], version: '0', incarnation: 1, seq: 1, ts: 0, heartbeatMs: 500,
    hidden: false, ext: ann !== undefined ? { raft: ann } : {}
  }) as unknown as NodeRecord
  const network: ConsensusNetwork = {
    peerId: self,
    members: () => [...others].map(([peerId, ann]) => ({ peerId, status: 'alive', lastSeen: 0, record: record(peerId, 'voter', ann) }) as Member),
    localRecord: () => record(self, role, announced),
    setRaftRole: r => { role = r },
    setExtension: (key, value) => {
      if (key !== 'raft') return
      announced = value as RaftAnnouncement
      say({ ann: { peerId: self, value } })
    }
  }
  const data = join(dir, `member-${index}`)
  const store = await openStore(data)
  const openLog = raftLogOpener(data)
  if (openLog === undefined) throw new Error(`no write-ahead log for ${data}`)
  // member 0 founds the group, the others join it, as the CLI's relay and nodes do
  const consensus = new ConsensusManager({ libp2p: node as never, network, store, clock: systemClock, rng: systemRng, openLog }, { joining: index !== 0 })
  return {
    put: async (key, value) => (await consensus.kv.put(key, value)).revision,
    get: async key => (await consensus.kv.get(key))?.value as string | undefined,
    link: async (addrs, ids) => {
      for (const [k, a] of addrs.entries()) {
        if (ids[k] === self) continue
        if (!others.has(ids[k])) others.set(ids[k], undefined)
        await node.dial(multiaddr(a))
      }
      await consensus.start()
    },
    control: msg => {
      if (msg.ann !== undefined && msg.ann.peerId !== self) others.set(msg.ann.peerId, msg.ann.value)
      if (msg.status === true) { const s = consensus.status(); say({ status: { role: s.role, voters: s.voters.length } }) }
    },
    stop: async () => { await consensus.stop(); await store.close?.() }
  }
}

/** the stack alone, carrying the messages of our puts and reads (see the top of the file) */
async function stackLayer (node: Libp2p): Promise<Layer> {
  const PROTOCOL = '/agentmesh-bench/kv-layer/1.0.0'
  const APPEND = 1; const ACK = 2; const FORWARD = 3; const COMMIT = 4; const BEAT = 5; const BEAT_ACK = 6; const READ = 7; const READ_INDEX = 8
  const leading = index === 0
  const log = walFile(join(dir, `member-${index}.wal`))
  const values = new Map<string, string>()
  const outbound = new Map<number, Stream>()
  const memberOf = new Map<string, number>()
  const encoder = new TextEncoder()
  const decoder = new TextDecoder()
  /** entries' indexes (contiguous); the leader's heartbeat rounds and a follower's calls have their own ids */
  let lastIndex = 0
  let committed = 0
  let nextId = 0
  // leader: entries waiting for their write and an ack; heartbeat rounds waiting for an ack
  const entries = new Map<number, { key: string, value: string, written: boolean, acks: number, done: () => void }>()
  const rounds = new Map<number, () => void>()
  // follower: entries received and not yet known committed; calls waiting for their answer
  const unapplied = new Map<number, { key: string, value: string }>()
  const calls = new Map<number, (at: number) => void>()

  const frame = (type: number, id: number, aux: number, body?: Uint8Array): Uint8Array => {
    const out = new Uint8Array(13 + (body?.byteLength ?? 0))
    const view = new DataView(out.buffer)
    view.setUint32(0, out.byteLength - 4)
    out[4] = type
    view.setUint32(5, id)
    view.setUint32(9, aux)
    if (body !== undefined) out.set(body, 13)
    return out
  }
  const send = (to: number, bytes: Uint8Array): void => { outbound.get(to)?.send(bytes) }
  const entryBytes = (key: string, value: string): Uint8Array => encoder.encode(JSON.stringify([key, value]))
  const applied = (): number => Math.min(committed, lastIndex)

  // follower: `at` is known committed; apply what we hold up to it
  const learnCommitted = (at: number): void => {
    if (at > committed) committed = at
    const upTo = applied()
    for (const [i, e] of unapplied) {
      if (i > upTo) continue
      values.set(e.key, e.value)
      unapplied.delete(i)
    }
  }
  const maybeCommit = (i: number): void => {
    const e = entries.get(i)
    if (e === undefined || !e.written || e.acks < 1) return
    entries.delete(i)
    values.set(e.key, e.value)
    if (i > committed) committed = i
    e.done()
  }
  // the leader's put: appended to both followers, then written here
  const propose = (key: string, value: string, done: (at: number) => void): void => {
    const i = ++lastIndex
    const bytes = entryBytes(key, value)
    entries.set(i, { key, value, written: false, acks: 0, done: () => { done(i) } })
    for (const k of [1, 2]) send(k, frame(APPEND, i, committed, bytes))
    log.append(bytes, () => { const e = entries.get(i); if (e !== undefined) { e.written = true; maybeCommit(i) } })
  }
  const heartbeatRound = async (): Promise<void> => {
    const id = ++nextId
    await new Promise<void>(resolve => {
      rounds.set(id, resolve)
      for (const k of [1, 2]) send(k, frame(BEAT, id, committed))
    })
  }
  const call = async (type: number, body?: Uint8Array): Promise<number> => await new Promise(resolve => {
    const id = ++nextId
    calls.set(id, resolve)
    send(0, frame(type, id, 0, body))
  })

  const receive = (from: number, type: number, id: number, aux: number, body: Uint8Array): void => {
    if (leading) {
      if (type === ACK) {
        const e = entries.get(id)
        if (e !== undefined) { e.acks++; maybeCommit(id) }
      } else if (type === FORWARD) {
        const [key, value] = JSON.parse(decoder.decode(body)) as [string, string]
        propose(key, value, at => { send(from, frame(COMMIT, id, at)) })
      } else if (type === BEAT_ACK) {
        const r = rounds.get(id)
        rounds.delete(id)
        r?.()
      } else if (type === READ) send(from, frame(READ_INDEX, id, committed))
      return
    }
    if (type === APPEND) {
      const [key, value] = JSON.parse(decoder.decode(body)) as [string, string]
      unapplied.set(id, { key, value })
      lastIndex = id
      learnCommitted(aux)
      log.append(body, () => { send(0, frame(ACK, id, 0)) })
    } else if (type === BEAT) {
      learnCommitted(aux)
      send(0, frame(BEAT_ACK, id, 0))
    } else if (type === COMMIT || type === READ_INDEX) {
      learnCommitted(aux)
      const answer = calls.get(id)
      calls.delete(id)
      answer?.(aux)
    }
  }

  await node.handle(PROTOCOL, (stream, connection) => {
    // looked up per frame: a member may dial in before this one has learned who is who
    const peer = connection.remotePeer.toString()
    let buffered = new Uint8Array(0)
    void (async () => {
      for await (const chunk of stream) {
        const bytes = chunk.subarray()
        const joined = new Uint8Array(buffered.byteLength + bytes.byteLength)
        joined.set(buffered)
        joined.set(bytes, buffered.byteLength)
        let at = 0
        while (joined.byteLength - at >= 4) {
          const view = new DataView(joined.buffer, joined.byteOffset + at)
          const length = view.getUint32(0)
          if (joined.byteLength - at < 4 + length) break
          receive(memberOf.get(peer) ?? -1, joined[at + 4], view.getUint32(5), view.getUint32(9), joined.subarray(at + 13, at + 4 + length))
          at += 4 + length
        }
        buffered = joined.slice(at)
      }
    })().catch((err: unknown) => { console.error(`kv-layer member ${index}: stream from ${peer} failed:`, err) })
  })

  return {
    put: async (key, value) => {
      if (leading) return await new Promise<number>(resolve => { propose(key, value, resolve) })
      return await call(FORWARD, entryBytes(key, value))
    },
    get: async key => {
      if (leading) await heartbeatRound()
      else {
        // the answer comes on the stream the leader's appends come on, after every entry up to
        // its read index, and carries that index: all of it is applied here by now
        const at = await call(READ)
        if (at > applied()) throw new Error(`read index ${at} is past what this member holds (${applied()})`)
      }
      return values.get(key)
    },
    link: async (addrs, ids) => {
      ids.forEach((id, k) => { memberOf.set(id, k) })
      for (const [k, a] of addrs.entries()) {
        if (k === index || (!leading && k !== 0)) continue
        outbound.set(k, await node.dialProtocol(multiaddr(a), PROTOCOL))
      }
    },
    stop: async () => { log.close() }
  }
}

/** a preallocated log file written with O_DSYNC, one write per batch through libuv's thread pool */
function walFile (path: string): { append: (bytes: Uint8Array, done: () => void) => void, close: () => void } {
  const SIZE = 64 << 20
  const zeros = new Uint8Array(1 << 20)
  const fill = openSync(path, 'w')
  for (let at = 0; at < SIZE; at += zeros.byteLength) writeSync(fill, zeros, 0, zeros.byteLength, at)
  fsyncSync(fill)
  closeSync(fill)
  const fd = openSync(path, fsConstants.O_WRONLY | fsConstants.O_DSYNC)
  let offset = 0
  let writing = false
  let queue: Array<{ bytes: Uint8Array, done: () => void }> = []
  const next = (): void => {
    const batch = queue
    queue = []
    if (batch.length === 0) { writing = false; return }
    writing = true
    const bytes = Buffer.concat(batch.map(b => b.bytes))
    if (offset + bytes.byteLength > SIZE) offset = 0
    write(fd, bytes, 0, bytes.byteLength, offset, err => {
      if (err !== null) throw err
      for (const b of batch) b.done()
      next()
    })
    offset += bytes.byteLength
  }
  return {
    append: (bytes, done) => { queue.push({ bytes, done }); if (!writing) next() },
    close: () => { closeSync(fd) }
  }
}
