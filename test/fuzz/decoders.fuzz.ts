/**
 * Every decoder that reads bytes or text from another peer (or an LLM server) under fast-check:
 * at least 100,000 random inputs and 100,000 damaged valid encodings each (AGENTMESH_FUZZ_RUNS to
 * change). A decoder may only return or throw one of our typed errors; anything else (TypeError,
 * RangeError, a hang) fails the run. A failure prints fast-check's seed and path; replay with
 * AGENTMESH_FUZZ_SEED=<seed>.
 */
import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { decodeCredential, decodeCredentialBytes, signCredential } from '../../src/security/index.ts'
import { decodeMembershipMessage, encodeMembershipMessage, MembershipMessageType } from '../../src/network/index.ts'
import type { NodeRecord } from '../../src/network/index.ts'
import { decodeRaftFrame, decodeRefusalFrame, encodeHello, encodeMessage, encodeRefusal, packMessages } from '../../src/consensus/raft-wire.ts'
import { newMessage } from '../../src/consensus/raft/index.ts'
import { decodeConfChange, encodeConfChange } from '../../src/consensus/raft/conf-change.ts'
import { decodeCommand, encodeCommand } from '../../src/consensus/kv/codec.ts'
import { decodeResult, encodeResult } from '../../src/consensus/kv/result-codec.ts'
import { decodeKvState, encodeKvState } from '../../src/consensus/kv/snapshot.ts'
import { emptyKvState } from '../../src/consensus/kv/state.ts'
import { KvStateMachine } from '../../src/consensus/kv/state-machine.ts'
import { decodeEntry, decodeHardState, decodeLogStart, decodeSnapshot as decodeRaftSnapshot, encodeEntry, encodeHardState, encodeLogStart, encodeSnapshot as encodeRaftSnapshot } from '../../src/consensus/log-store-codec.ts'
import { decodeGossip, decodeSync, encodeGossip, encodeSync } from '../../src/consensus/crdt/codec.ts'
import { decodeStateVectorSafe } from '../../src/consensus/crdt/vectors.ts'
import { parseHlc } from '../../src/util/hlc.ts'
import { decodeKvEntry, encodeKvEntry } from '../../src/consensus/crdt/kv-entry.ts'
import { decodeControl } from '../../src/agents/control.ts'
import { decodePlacement } from '../../src/agents/directory.ts'
import { decodeChatChunk, decodeChatCompletion } from '../../src/agents/llm-codec.ts'
import { SseDataDecoder } from '../../src/agents/llm-sse.ts'
import { decodeSnapshot as decodeMonitoringSnapshot, encodeSnapshot as encodeMonitoringSnapshot } from '../../src/monitoring/snapshot.ts'
import { parseTraceparent } from '../../src/monitoring/traceparent.ts'
import { decodeEnvelope, encodeEnvelope } from '../../src/messaging/envelope.ts'
import type { Envelope } from '../../src/messaging/envelope.ts'
import { decodeHlc as decodeMessagingHlc, encodeHlc } from '../../src/messaging/hlc.ts'
import { createMessageId, parseMessageId } from '../../src/messaging/message-id.ts'
import * as Y from 'yjs'
import { parseJson } from '../../src/http/request.ts'

const RUNS = Number(process.env.AGENTMESH_FUZZ_RUNS ?? 100_000)
const seed = process.env.AGENTMESH_FUZZ_SEED != null ? Number(process.env.AGENTMESH_FUZZ_SEED) : undefined
const params = { numRuns: RUNS, ...(seed != null ? { seed } : {}) }
const TYPED = new Set(['InvalidMessageError', 'MessageTooLargeError', 'UnsupportedVersionError', 'UnauthorizedError', 'InvalidArgumentError'])
let cases = 0

function typedOnly (fn: () => unknown): boolean {
  cases++
  try { fn() } catch (err) {
    if (err instanceof Error && TYPED.has(err.name)) return true
    throw err
  }
  return true
}

async function typedOnlyAsync (fn: () => Promise<unknown>): Promise<boolean> {
  cases++
  try { await fn() } catch (err) {
    if (err instanceof Error && TYPED.has(err.name)) return true
    throw err
  }
  return true
}

/** valid encodings damaged: bytes flipped, cut, added or inserted (1-4 times) */
function mutatedOf (samples: Uint8Array[]): fc.Arbitrary<Uint8Array> {
  const edit = fc.tuple(fc.nat(), fc.nat(255), fc.constantFrom('flip', 'truncate', 'append', 'insert', 'delete'))
  return fc.tuple(fc.constantFrom(...samples), fc.array(edit, { minLength: 1, maxLength: 4 })).map(([base, edits]) => {
    let b = base.slice()
    for (const [at, byte, how] of edits) {
      const i = b.length === 0 ? 0 : at % b.length
      switch (how) {
        case 'flip': if (b.length > 0) b[i] ^= byte === 0 ? 1 : byte; break
        case 'truncate': b = b.slice(0, i); break
        case 'append': b = Uint8Array.from([...b, byte]); break
        case 'insert': b = Uint8Array.from([...b.slice(0, i), byte, ...b.slice(i)]); break
        default: b = Uint8Array.from([...b.slice(0, i), ...b.slice(i + 1)])
      }
    }
    return b
  })
}

const randomBytes = fc.uint8Array({ maxLength: 512 })
const text = new TextEncoder()

/** a byte decoder: random bytes, then damaged valid encodings */
function fuzzBytes (name: string, decode: (b: Uint8Array) => unknown, samples: () => Uint8Array[]): void {
  it(`${name}: ${RUNS} random byte strings`, () => {
    fc.assert(fc.property(randomBytes, b => typedOnly(() => decode(b))), params)
  })
  it(`${name}: ${RUNS} damaged valid encodings`, (t) => {
    const valid = samples()
    if (valid.length === 0) { t.skip('no valid sample to damage: random bytes only'); return }
    for (const s of valid) decode(s) // the samples themselves decode
    fc.assert(fc.property(mutatedOf(valid), b => typedOnly(() => decode(b))), params)
  })
}

/** a text or JSON decoder: random strings, JSON-ish text and (for JSON) random values */
function fuzzText (name: string, decode: (s: string) => unknown, valid: string[] = []): void {
  it(`${name}: ${RUNS} random and damaged strings`, () => {
    const damaged = valid.length === 0
      ? fc.string({ maxLength: 200 })
      : mutatedOf(valid.map(v => text.encode(v))).map(b => new TextDecoder().decode(b))
    fc.assert(fc.property(fc.oneof(fc.string({ maxLength: 200 }), fc.json({ maxDepth: 3 }), damaged), s => typedOnly(() => decode(s))), params)
  })
}

function fuzzJson (name: string, decode: (v: unknown) => unknown, valid: unknown[]): void {
  it(`${name}: ${RUNS} random JSON values and damaged valid ones`, () => {
    const damaged = fc.tuple(fc.constantFrom(...valid), fc.string({ maxLength: 12 }), fc.jsonValue({ maxDepth: 2 })).map(([v, key, value]) => {
      const copy = structuredClone(v) as Record<string, unknown>
      const keys = Object.keys(copy)
      copy[keys.length > 0 && key.length % 2 === 0 ? keys[key.length % keys.length] : key] = value
      return copy
    })
    fc.assert(fc.property(fc.oneof(fc.jsonValue({ maxDepth: 4 }), damaged), v => typedOnly(() => decode(v))), params)
  })
}

describe('decoders under fuzz', { timeout: 30 * 60_000 }, () => {
  const started = Date.now()
  after(() => {
    // eslint-disable-next-line no-console
    console.log(`fuzz: ${cases} cases in ${((Date.now() - started) / 1000).toFixed(1)} s (${RUNS} per property)`)
  })

  // ---- credentials and node records: keys are made once ----
  let credentials: Uint8Array[] = []
  let membership: Uint8Array[] = []
  let author = ''
  it('prepares signed samples', async () => {
    const admin = await generateKeyPair('Ed25519')
    const key = await generateKeyPair('Ed25519')
    author = peerIdFromPrivateKey(key).toString()
    credentials = await Promise.all([['voter'], ['host', 'publisher'], []].map(async roles =>
      Buffer.from(await signCredential(admin, { mesh: 'fuzz', peerId: author, roles: roles as any, expiry: Date.now() + 60_000 }), 'base64url')))
    const record: NodeRecord = {
      peerId: author, mesh: 'fuzz', role: 'node', raft: 'voter', addrs: ['/ip4/127.0.0.1/tcp/1'], capabilities: { cpu: 1, memoryMb: 64, tags: ['llm'] },
      load: { agents: 0, cpu: 0, memoryMb: 0, rssMb: 50, eventLoopLagMs: 1 }, links: [{ peer: 'x', transport: 'tcp' }], version: '0.1.0',
      incarnation: 1, seq: 2, ts: 3, heartbeatMs: 500, hidden: false, ext: { credential: 'abc' }
    }
    membership = [
      await encodeMembershipMessage({ type: MembershipMessageType.Record, record }, key),
      await encodeMembershipMessage({ type: MembershipMessageType.Leave, peerId: author, incarnation: 1 }, key),
      await encodeMembershipMessage({ type: MembershipMessageType.Failed, subject: 'y', incarnation: 1, seq: 2 }, key)
    ]
    assert.equal((await decodeMembershipMessage(membership[0], author, 'fuzz')).type, MembershipMessageType.Record)
  })

  fuzzBytes('credential bytes', b => decodeCredentialBytes(b), () => credentials)
  fuzzText('credential text', s => decodeCredential(s), ['AQA', 'AQAFe30'])

  it(`membership message: ${RUNS} random and damaged signed messages (signatures checked)`, async () => {
    await fc.assert(fc.asyncProperty(fc.oneof(randomBytes, mutatedOf(membership)), async b => await typedOnlyAsync(async () => await decodeMembershipMessage(b, author, 'fuzz'))), params)
  })

  // ---- consensus ----
  const app = newMessage(3, 'me', 'sender', 7)
  app.logTerm = 6; app.index = 41; app.commit = 40
  app.entries = [{ term: 6, index: 42, type: 0, data: new Uint8Array([1, 2, 3]) }, { term: 7, index: 43, type: 1, data: new Uint8Array([1, 0, 120]) }]
  const vote = newMessage(5, 'me', 'sender', 8)
  fuzzBytes('raft frame', b => decodeRaftFrame(b, 'sender', 'me'), () => [packMessages([encodeMessage(app), encodeMessage(vote)]), encodeHello('group-1'), encodeHello('')])
  fuzzBytes('raft refusal frame', b => decodeRefusalFrame(b), () => [encodeRefusal({ subject: 'proposal', reason: '12D3KooW presents no credential' }), encodeRefusal({ subject: 'raft', reason: 'é' })])
  fuzzBytes('raft conf change', b => decodeConfChange(b), () => [encodeConfChange({ type: 0, nodeId: 'peer-a' }), encodeConfChange({ type: 1, nodeId: 'peer-b' })])
  fuzzBytes('raft log entry', b => decodeEntry(5, b), () => [encodeEntry({ term: 3, index: 5, type: 0, data: new Uint8Array([7, 8]) })])
  fuzzBytes('raft hard state', b => decodeHardState(b), () => [encodeHardState({ term: 3, vote: 'peer-a', commit: 9 })])
  fuzzBytes('raft snapshot record', b => decodeRaftSnapshot(b), () => [
    encodeRaftSnapshot({ metadata: { index: 40, term: 3, confState: { voters: ['peer-a', 'peer-b', 'peer-c'], learners: ['tab-1'] } }, data: new Uint8Array([1, 2, 3, 4]) })
  ])
  fuzzBytes('raft log start', b => decodeLogStart(b), () => [encodeLogStart({ index: 40, term: 3 })])
  fuzzBytes('kv command', b => decodeCommand(b), () => [
    encodeCommand({ type: 'put', key: 'config/x', value: new Uint8Array([1, 2]) }),
    encodeCommand({ type: 'delete', key: 'config/x' }),
    encodeCommand({ type: 'txn', compare: [], success: [{ type: 'get', key: 'a' }], failure: [] })
  ])
  fuzzBytes('kv result', b => decodeResult(b), () => [
    encodeResult({ type: 'lease-promote', leases: 3 }),
    encodeResult({ type: 'range', revision: 4, kvs: [], more: false }),
    encodeResult({ type: 'error', name: 'NotFoundError', message: 'nope' })
  ])
  fuzzBytes('kv snapshot state', b => decodeKvState(b), () => {
    const sm = new KvStateMachine()
    sm.apply(1, { type: 'put', key: 'config/x', value: new Uint8Array([1, 2]) })
    sm.apply(2, { type: 'put', key: 'config/y', value: new Uint8Array([3]) })
    return [encodeKvState(emptyKvState()), sm.snapshot()]
  })
  fuzzBytes('crdt gossip', b => decodeGossip(b, 1 << 16), () => [
    encodeGossip({ type: 0, update: new Uint8Array([1, 2, 3]) } as any),
    encodeGossip({ type: 2, updates: [new Uint8Array([1, 2, 3]), new Uint8Array([4])] } as any),
    encodeGossip({ type: 1, reason: 1, holder: true, stateVector: new Uint8Array([1, 5, 7]), persisted: new Uint8Array([0]), fingerprint: 0xdeadbeef, role: 2 } as any),
    encodeGossip({ type: 3, holders: ['peer-a', 'peer-b'] } as any)
  ])
  fuzzBytes('crdt sync frame', b => decodeSync(b), () => [
    encodeSync({ type: 10, docId: 'agent/c1', hold: true, owner: 'peer-a', policy: 'custom:merge' } as any),
    encodeSync({ type: 11, payload: new Uint8Array([0, 1, 0]) } as any),
    encodeSync({ type: 13, name: 'NotFoundError', message: 'nope' } as any)
  ])
  fuzzBytes('crdt state vector', b => decodeStateVectorSafe(b), () => {
    const doc = new Y.Doc()
    doc.getMap('m').set('k', 'v')
    return [Y.encodeStateVector(doc), Y.encodeStateVector(new Y.Doc())]
  })
  fuzzText('hlc text (crdt stamps)', s => parseHlc(s), ['0001764000000000.0000000003.12D3KooWPeer', '001764000000000.000003.12D3KooWPeer'])
  fuzzBytes('crdt key-value entry', b => decodeKvEntry(b), () => [encodeKvEntry({ k: 'task:1', v: { input: { from: 0, to: 10 }, done: false } }), encodeKvEntry({ k: 'x', d: 1, t: '0001764000000000.0000000003.p' })])

  // ---- agents ----
  fuzzJson('agents control message', v => decodeControl(v), [
    { op: 'activate', id: 'c1', epoch: 3, syncFrom: ['peer-a'] }, { op: 'migrate', id: 'c1', node: 'peer-b' }, { op: 'state', id: 'c1' }
  ])
  fuzzJson('agent placement', v => decodePlacement(v), [{ id: 'c1', kind: 'counter', node: 'peer-a', epoch: 2, config: {}, status: 'active' }])
  fuzzText('llm chat completion', s => decodeChatCompletion(s, 'm'), ['{"id":"x","model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}]}'])
  fuzzText('llm stream chunk', s => decodeChatChunk(s), ['{"choices":[{"index":0,"delta":{"content":"hi"}}]}'])
  it(`llm SSE stream: ${RUNS} random and damaged byte streams in random chunks`, () => {
    const valid = text.encode('data: {"choices":[{"delta":{"content":"a"}}]}\n\ndata: [DONE]\n\n')
    fc.assert(fc.property(fc.oneof(randomBytes, mutatedOf([valid])), fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: 6 }), (b, cuts) => typedOnly(() => {
      const d = new SseDataDecoder(256)
      let at = 0
      for (const n of cuts) { d.push(b.subarray(at, at + n)); at += n }
      d.push(b.subarray(at))
      d.end()
    })), params)
  })

  // ---- monitoring, messaging, http ----
  fuzzBytes('monitoring snapshot', b => decodeMonitoringSnapshot(b), () => [encodeMonitoringSnapshot({
    v: 1,
    peerId: '12D3KooWPeer',
    time: 1_764_000_000_000,
    seq: 7,
    health: { status: 'degraded', components: { raft: 'ok', clock: 'degraded' } },
    metrics: { 'agentmesh_raft_term': 3, 'rpc:p99': 0.004 },
    alerts: [],
    ext: { agents: [{ id: 'c1', kind: 'counter' }] }
  } as any)])
  fuzzText('traceparent', s => parseTraceparent(s), ['00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01'])
  fuzzBytes('envelope', b => decodeEnvelope(b), () => {
    const base = { id: createMessageId(), sender: '12D3KooWPeer', seq: 3, hlc: { wallMs: 1_764_000_000_000, logical: 2 }, traceparent: '', contentType: 'application/json', payload: text.encode('{"op":"inc"}') }
    return [
      encodeEnvelope({ ...base, kind: 'message', target: { kind: 'agent', id: 'c1' } } as Envelope),
      encodeEnvelope({ ...base, kind: 'request', traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' } as Envelope),
      encodeEnvelope({ ...base, kind: 'ack', seq: 0, correlationId: createMessageId(), payload: new Uint8Array(0) } as Envelope)
    ]
  })
  fuzzBytes('messaging hlc', b => decodeMessagingHlc(b), () => [encodeHlc({ wallMs: 1_764_000_000_000, logical: 5 }), encodeHlc({ wallMs: 0, logical: 0 })])
  fuzzText('message id', s => parseMessageId(s))
  it(`admin API JSON body: ${RUNS} random byte strings`, () => {
    fc.assert(fc.property(fc.oneof(randomBytes, fc.json().map(j => text.encode(j))), b => typedOnly(() => parseJson(Buffer.from(b)))), params)
  })
})
