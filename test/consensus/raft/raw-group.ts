/**
 * A group of RawNodes in one process for core tests: each Ready is persisted to the node's memory
 * storage and advanced, and messages go where the test lets them (or are held and stepped by hand).
 */
import assert from 'node:assert/strict'
import { MemoryRaftStorage, MessageType, RawNode } from '../../../src/consensus/raft/index.ts'
import type { Message, Ready } from '../../../src/consensus/raft/index.ts'
import { seededRng } from '../../../src/util/prng.ts'

const silent = { info: () => {}, warn: () => {} }
const dec = new TextDecoder()

export interface GroupPeer {
  raw: RawNode
  storage: MemoryRaftStorage
  /** read states handed out so far, contexts decoded */
  reads: Array<{ index: number, ctx: string }>
}

export class RawGroup {
  readonly peers = new Map<string, GroupPeer>()
  /** messages sent and not delivered yet, in order */
  inFlight: Message[] = []
  /** every message sent so far */
  sent: Message[] = []

  constructor (voters: string[], learners: string[] = []) {
    for (const id of [...voters, ...learners]) {
      const storage = MemoryRaftStorage.bootstrap({ voters, learners })
      this.peers.set(id, { raw: new RawNode({ id, storage, rng: seededRng(id.charCodeAt(0)), logger: silent }), storage, reads: [] })
    }
  }

  peer (id: string): GroupPeer { return this.peers.get(id)! }

  /** persists one Ready of `id` (taken earlier with raw.ready()) and advances; its messages go in flight */
  persist (id: string, rd: Ready): void {
    const p = this.peer(id)
    p.storage.append(rd.entries)
    if (rd.hardState !== undefined) p.storage.setHardState(rd.hardState)
    for (const rs of rd.readStates) p.reads.push({ index: rs.index, ctx: dec.decode(rs.requestCtx) })
    this.inFlight.push(...rd.messages)
    this.sent.push(...rd.messages)
    p.raw.advance()
  }

  /** persists every pending Ready of `ids` (all peers by default) and puts its messages in flight */
  flush (ids: string[] = [...this.peers.keys()]): void {
    for (const id of ids) {
      const p = this.peer(id)
      while (p.raw.hasReady()) this.persist(id, p.raw.ready())
    }
  }

  /** delivers messages that `keep` allows (the others are dropped) until none is left */
  pump (keep: (m: Message) => boolean = () => true): void {
    this.flush()
    for (let rounds = 0; this.inFlight.length > 0 && rounds < 100; rounds++) {
      const batch = this.inFlight
      this.inFlight = []
      for (const m of batch) if (keep(m)) this.peers.get(m.to)?.raw.step(m)
      this.flush()
    }
  }

  /** elects `id` and commits its first entry everywhere */
  elect (id: string): void {
    this.peer(id).raw.campaign()
    this.pump()
    assert.equal(this.peer(id).raw.status().role, 'leader')
  }

  heartbeatsWith (ctx: string): Message[] {
    return this.sent.filter(m => m.type === MessageType.Heartbeat && m.context !== undefined && dec.decode(m.context) === ctx)
  }
}
