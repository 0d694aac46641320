/**
 * ConsensusManagers on one ManualClock over an in-memory network and Raft transport, for
 * deterministic tests of group formation and the autopilot: nothing runs but what the clock and
 * the event loop (setImmediate) drive, each peer has a seeded Rng, and who sees whom in the
 * membership (`hide`), who is down (`crash`) and which links carry Raft messages are the test's.
 */
import { ConsensusManager } from '../../src/consensus/index.ts'
import type { ConsensusManagerInit, ConsensusNetwork, ConsensusRaftTransport, RaftAnnouncement, RaftTransportHandler } from '../../src/consensus/index.ts'
import type { Message } from '../../src/consensus/raft/index.ts'
import type { Member, NodeRecord, RaftRole } from '../../src/network/index.ts'
import { MemoryStore } from '../../src/storage/memory.ts'
import { ManualClock } from '../../src/util/clock.ts'
import type { Clock } from '../../src/util/clock.ts'
import { seededRng } from '../../src/util/prng.ts'

export interface MemPeer {
  id: string
  consensus: ConsensusManager
  /** every voter set this peer's membership ever held, in order */
  voterSets: string[][]
  down: boolean
  announcement?: RaftAnnouncement
  raftRole: RaftRole
  handler?: RaftTransportHandler
}

function offsetClock (c: Clock, offsetMs: number): Clock {
  return {
    now: () => c.now() + offsetMs,
    monotonic: () => c.monotonic(),
    setTimeout: (fn, ms) => c.setTimeout(fn, ms),
    clearTimeout: (h) => { c.clearTimeout(h) },
    setInterval: (fn, ms) => c.setInterval(fn, ms),
    clearInterval: (h) => { c.clearInterval(h) }
  }
}

const turn = async (): Promise<void> => { await new Promise<void>(resolve => { setImmediate(resolve) }) }

export class MemMesh {
  readonly clock = new ManualClock(1_000_000)
  readonly peers = new Map<string, MemPeer>()
  /** sees every Raft message a live peer sends, as it is sent */
  onSend: ((from: string, to: string, m: Message) => void) | undefined
  /** `a>b`: a does not see b in its membership (one way) */
  private readonly hidden = new Set<string>()

  /**
   * starts a peer (ids order the peers: the lowest id founds the group); `wallOffsetMs`: its wall
   * clock reads that far off the mesh's (its monotonic clock and timers are the shared ones)
   */
  async add (id: string, seed: number, init: ConsensusManagerInit = {}, wallOffsetMs = 0): Promise<MemPeer> {
    const peer: MemPeer = { id, consensus: undefined as unknown as ConsensusManager, voterSets: [], down: false, raftRole: 'none' }
    this.peers.set(id, peer)
    const network: ConsensusNetwork = {
      peerId: id,
      members: () => this.membersSeenBy(id),
      localRecord: () => this.record(peer),
      setRaftRole: (role) => { peer.raftRole = role },
      setExtension: (key, value) => { if (key === 'raft') peer.announcement = value as RaftAnnouncement }
    }
    peer.consensus = new ConsensusManager({
      libp2p: undefined as never,
      network,
      store: new MemoryStore(),
      clock: wallOffsetMs === 0 ? this.clock : offsetClock(this.clock, wallOffsetMs),
      rng: seededRng(seed),
      raftTransport: ({ handler }) => this.transport(peer, handler)
    }, init)
    peer.consensus.addEventListener('membership:changed', e => { peer.voterSets.push([...e.detail.voters]) })
    await peer.consensus.start()
    return peer
  }

  /** `who` stops seeing `whom` in its membership (`whom` still sees `who`, and Raft links stay) */
  hide (who: string, whom: string): void { this.hidden.add(`${who}>${whom}`) }
  show (who: string, whom: string): void { this.hidden.delete(`${who}>${whom}`) }

  /** the peer stops: nothing reaches it or leaves it, and every other peer sees it failed */
  crash (id: string): void {
    this.peers.get(id)!.down = true
  }

  private record (p: MemPeer): NodeRecord {
    return {
      peerId: p.id, mesh: 'mem', role: 'node', raft: p.raftRole, addrs: [], capabilities: { cpu: 1, memoryMb: 1, tags: [], kinds: [] },
      load: { cpu: 0, memoryMb: 0, agents: 0 }, links: [], version: '0', incarnation: 1, seq: 1, ts: 0, heartbeatMs: 500,
      hidden: false, ext: p.announcement !== undefined ? { raft: p.announcement } : {}
    } as unknown as NodeRecord
  }

  private membersSeenBy (id: string): Member[] {
    const out: Member[] = []
    for (const p of this.peers.values()) {
      if (p.id === id || this.hidden.has(`${id}>${p.id}`)) continue
      out.push({ peerId: p.id, status: p.down ? 'failed' : 'alive', lastSeen: 0, record: this.record(p) })
    }
    return out
  }

  private transport (from: MemPeer, handler: RaftTransportHandler): ConsensusRaftTransport {
    from.handler = handler
    return {
      start: async () => {},
      stop: async () => { from.handler = undefined },
      refuse: () => false,
      send: (to: string, messages: Message[]) => {
        if (!from.down) for (const m of messages) this.onSend?.(from.id, to, m)
        const copies = structuredClone(messages)
        const group = handler.groupId()
        setImmediate(() => {
          const target = this.peers.get(to)
          const ok = !from.down && target !== undefined && !target.down && target.handler !== undefined
          if (ok) {
            // as the libp2p transport: a stream from another group is refused
            const ours = target.handler!.groupId()
            if (ours !== '' && group !== '' && ours !== group) return
            for (const m of copies) target.handler!.receive(m, group)
          }
          for (const m of copies) if (m.snapshot !== undefined && !from.down) from.handler?.snapshotStatus(to, ok)
        })
      }
    }
  }

  /** lets everything the event loop has to do run (the drivers' loops and their in-memory I/O) */
  async flush (): Promise<void> {
    for (let i = 0; i < 40; i++) await turn()
  }

  /** advances the clock in steps of `stepMs` until `done()` or `maxMs` of simulated time have passed */
  async runUntil (done: () => boolean, maxMs: number, what: string, stepMs = 50): Promise<number> {
    const start = this.clock.monotonic()
    await this.flush()
    while (!done()) {
      if (this.clock.monotonic() - start >= maxMs) throw new Error(`not within ${maxMs} simulated ms: ${what}`)
      this.clock.advance(stepMs)
      await this.flush()
    }
    return this.clock.monotonic() - start
  }

  /** lets `ms` of simulated time pass, in steps of `stepMs`, everything due running as it goes */
  async advance (ms: number, stepMs = 50): Promise<void> {
    await this.flush()
    for (let t = 0; t < ms; t += stepMs) {
      this.clock.advance(Math.min(stepMs, ms - t))
      await this.flush()
    }
  }

  /** waits for `p` while the clock runs */
  async settle<T>(p: Promise<T>, maxMs: number, what: string): Promise<T> {
    let outcome: { ok: true, value: T } | { ok: false, err: unknown } | undefined
    p.then(value => { outcome = { ok: true, value } }, (err: unknown) => { outcome = { ok: false, err } })
    await this.runUntil(() => outcome !== undefined, maxMs, what)
    const o = outcome!
    if (o.ok) return o.value
    throw o.err
  }

  live (): MemPeer[] { return [...this.peers.values()].filter(p => !p.down) }

  /** the leader every live peer names, once they agree */
  leader (): string | undefined {
    const names = new Set(this.live().map(p => p.consensus.status().leader))
    if (names.size !== 1) return undefined
    const l = [...names][0]
    return l !== null && this.peers.get(l)?.down === false ? l : undefined
  }

  async stop (): Promise<void> {
    // a stopping leader hands off and waits on the clock: keep it moving until every peer stopped
    const stops = [...this.peers.values()].map(async p => { await p.consensus.stop() })
    await this.settle(Promise.all(stops), 30_000, 'every peer to stop')
  }
}
