/**
 * The interpreter behind the transcript tests (etcd-io/raft's rafttest InteractionEnv, our own
 * take): a handful of RawNodes over MemoryRaftStorage, messages queued per recipient and handed
 * over only when a command says so, so every interleaving in a transcript is explicit.
 */
import {
  ConfChangeType, EntryType, MESSAGE_TYPE_NAMES, MemoryRaftStorage, ProposalDroppedError, RawNode,
  decodeConfChange, describeConfChange, describeConfState
} from '../../../src/consensus/raft/index.ts'
import type { ConfState, Entry, Message, RaftLogger, Ready, Snapshot } from '../../../src/consensus/raft/index.ts'
import { seededRng } from '../../../src/util/prng.ts'

const enc = new TextEncoder()
const dec = new TextDecoder()
const ROLE_NAMES: Record<string, string> = { follower: 'StateFollower', 'pre-candidate': 'StatePreCandidate', candidate: 'StateCandidate', leader: 'StateLeader' }

interface EnvNode {
  id: string
  raw: RawNode
  storage: MemoryRaftStorage
  /** the state machine: every applied normal entry's data, with its index */
  applied: Array<{ index: number, data: string }>
  confState: ConfState
  /** membership after each applied change, to snapshot the one in force at a given index */
  confHistory: Array<{ index: number, cs: ConfState }>
  inbox: Message[]
}

export interface Command {
  name: string
  args: string[]
  /** key=value arguments */
  kv: Map<string, string>
}

function describeEntry (e: Entry): string {
  if (e.type === EntryType.ConfChange) return `${e.term}/${e.index} EntryConfChange ${describeConfChange(decodeConfChange(e.data))}`
  return `${e.term}/${e.index} EntryNormal ${JSON.stringify(dec.decode(e.data))}`
}

function describeSnapshot (s: Snapshot): string {
  return `Index:${s.metadata.index} Term:${s.metadata.term} ConfState:${describeConfState(s.metadata.confState)}`
}

export function describeMessage (m: Message): string {
  let s = `${m.from}->${m.to} ${MESSAGE_TYPE_NAMES[m.type]} Term:${m.term} Log:${m.logTerm}/${m.index}`
  if (m.reject) s += ` Rejected (Hint: ${m.rejectHint})`
  if (m.commit !== 0) s += ` Commit:${m.commit}`
  if (m.entries.length > 0) s += ` Entries:[${m.entries.map(describeEntry).join(', ')}]`
  if (m.snapshot !== undefined) s += ` Snapshot: ${describeSnapshot(m.snapshot)}`
  if (m.context !== undefined && m.context.length > 0) s += ` Context:${JSON.stringify(dec.decode(m.context))}`
  return s
}

export class InteractionEnv {
  readonly nodes = new Map<string, EnvNode>()
  private out: string[] = []
  /** info: core log lines too; none: only command output; silent: nothing (setup steps) */
  private logLevel: 'silent' | 'none' | 'info' = 'info'
  /** node id -> partition group number; nodes in different groups cannot talk */
  private groups = new Map<string, number>()

  private logger (): RaftLogger {
    return {
      info: (msg) => { if (this.logLevel === 'info') this.out.push(`INFO ${msg}`) },
      warn: (msg) => { if (this.logLevel === 'info') this.out.push(`WARN ${msg}`) }
    }
  }

  run (cmd: Command): string {
    this.out = []
    try {
      this.dispatch(cmd)
    } catch (err) {
      this.out.push(`error: ${(err as Error).name}: ${(err as Error).message}`)
    }
    return this.out.length === 0 || this.logLevel === 'silent' ? 'ok' : this.out.join('\n')
  }

  private node (id: string | undefined): EnvNode {
    const n = this.nodes.get(id ?? '')
    if (n === undefined) throw new Error(`no node ${id}`)
    return n
  }

  private dispatch (cmd: Command): void {
    const a = cmd.args
    switch (cmd.name) {
      case 'log-level': this.logLevel = a[0] === 'none' || a[0] === 'silent' ? a[0] : 'info'; return
      case 'add-nodes': this.addNodes(Number(a[0]), cmd.kv); return
      case 'campaign': this.node(a[0]).raw.campaign(); return
      case 'tick-election': this.tick(a[0], this.node(a[0]).raw.raft.cfg.electionTick * 2 - 1); return
      case 'tick-heartbeat': this.tick(a[0], this.node(a[0]).raw.raft.cfg.heartbeatTick); return
      case 'propose': this.dropped(() => { this.node(a[0]).raw.propose(enc.encode(a[1])) }); return
      case 'propose-conf-change': this.proposeConfChange(a[0], cmd.kv); return
      case 'read-index': this.dropped(() => { this.node(a[0]).raw.readIndex(enc.encode(a[1])) }); return
      case 'transfer-leader': this.node(a[0]).raw.transferLeader(a[1]); return
      case 'process-ready': for (const id of a) this.processReady(this.node(id)); return
      case 'deliver-msgs': for (const id of a) this.deliver(this.node(id)); return
      case 'stabilize': this.stabilize(a.length > 0 ? a : [...this.nodes.keys()]); return
      case 'partition': this.partition(a); return
      case 'heal': this.groups.clear(); this.out.push('healed'); return
      case 'compact': this.compact(this.node(a[0]), Number(a[1])); return
      case 'restart': this.restart(this.node(a[0])); return
      case 'report-unreachable': this.node(a[0]).raw.reportUnreachable(a[1]); return
      case 'raft-state': this.raftState(); return
      case 'raft-log': this.raftLog(this.node(a[0])); return
      case 'status': this.status(this.node(a[0])); return
      case 'applied': for (const id of a) this.out.push(`${id}: [${this.node(id).applied.map(a => a.data).join(' ')}]`); return
      default: throw new Error(`unknown command ${cmd.name}`)
    }
  }

  private dropped (fn: () => void): void {
    try {
      fn()
    } catch (err) {
      if (!(err instanceof ProposalDroppedError)) throw err
      this.out.push(`dropped: ${err.message}`)
    }
  }

  private addNodes (n: number, kv: Map<string, string>): void {
    const start = this.nodes.size + 1
    const ids = Array.from({ length: n }, (_, i) => String(start + i))
    const list = (k: string, dflt: string[]): string[] => {
      const v = kv.get(k)
      return v === undefined ? dflt : v.split(',').filter(x => x !== '')
    }
    const voters = list('voters', ids)
    const learners = list('learners', [])
    for (const id of ids) {
      const storage = voters.length === 0 && learners.length === 0 ? new MemoryRaftStorage() : MemoryRaftStorage.bootstrap({ voters, learners })
      const maxSize = kv.get('max-size')
      const raw = new RawNode({
        id,
        storage,
        rng: seededRng(Number(id)),
        logger: this.logger(),
        ...(maxSize !== undefined ? { maxSizePerMsg: Number(maxSize) } : {})
      })
      this.nodes.set(id, { id, raw, storage, applied: [], confState: { voters, learners }, confHistory: [{ index: 0, cs: { voters, learners } }], inbox: [] })
    }
  }

  /**
   * a crash and restart: the node's inbox is lost and a new RawNode starts from what its storage
   * holds (term, vote, log, the snapshot's membership); as the driver does, the state machine
   * restarts from the snapshot and committed entries after it (conf changes too) are applied again
   */
  private restart (n: EnvNode): void {
    n.inbox = []
    const snapIndex = n.storage.snapshot().metadata.index
    n.applied = n.applied.filter(a => a.index <= snapIndex)
    n.confHistory = n.confHistory.filter(h => h.index <= snapIndex)
    n.confState = n.confHistory.at(-1)?.cs ?? n.storage.initialState().confState
    n.raw = new RawNode({ id: n.id, storage: n.storage, rng: seededRng(Number(n.id) + 1000), logger: this.logger(), applied: snapIndex })
    const hs = n.storage.getHardState()
    this.out.push(`${n.id} restarted: term ${hs.term}, vote ${hs.vote === '' ? 0 : hs.vote}, commit ${hs.commit}, last index ${n.storage.lastIndex()}`)
  }

  private tick (id: string | undefined, n: number): void {
    const node = this.node(id)
    for (let i = 0; i < n; i++) node.raw.tick()
  }

  private proposeConfChange (id: string | undefined, kv: Map<string, string>): void {
    const [k, v] = [...kv.entries()][0] ?? []
    const type = k === 'add' ? ConfChangeType.AddNode : k === 'remove' ? ConfChangeType.RemoveNode : k === 'add-learner' ? ConfChangeType.AddLearner : undefined
    if (type === undefined || v === undefined) throw new Error('propose-conf-change needs add=, add-learner= or remove=')
    this.dropped(() => { this.node(id).raw.proposeConfChange({ type, nodeId: v }) })
  }

  private partition (groups: string[]): void {
    this.groups.clear()
    groups.forEach((g, i) => { for (const id of g.split(',')) this.groups.set(id, i) })
    this.out.push(`partitioned ${groups.map(g => `(${g.split(',').join(' ')})`).join(' ')}`)
  }

  private canTalk (a: string, b: string): boolean {
    if (this.groups.size === 0) return true
    return (this.groups.get(a) ?? -1) === (this.groups.get(b) ?? -1)
  }

  private processReady (n: EnvNode): boolean {
    if (!n.raw.hasReady()) return false
    const rd: Ready = n.raw.ready()
    this.out.push(`> ${n.id} handling Ready`)
    this.out.push(`  Ready MustSync=${rd.mustSync}:`)
    if (rd.softState !== undefined) this.out.push(`  State:${ROLE_NAMES[rd.softState.role]} Lead:${rd.softState.lead === '' ? 0 : rd.softState.lead}`)
    if (rd.hardState !== undefined) this.out.push(`  HardState Term:${rd.hardState.term} Vote:${rd.hardState.vote === '' ? 0 : rd.hardState.vote} Commit:${rd.hardState.commit}`)
    if (rd.entries.length > 0) this.out.push('  Entries:', ...rd.entries.map(e => `  ${describeEntry(e)}`))
    if (rd.snapshot !== undefined) this.out.push(`  Snapshot ${describeSnapshot(rd.snapshot)}`)
    if (rd.committedEntries.length > 0) this.out.push('  CommittedEntries:', ...rd.committedEntries.map(e => `  ${describeEntry(e)}`))
    if (rd.readStates.length > 0) this.out.push('  ReadStates:', ...rd.readStates.map(r => `  Index:${r.index} RequestCtx:${JSON.stringify(dec.decode(r.requestCtx))}`))
    if (rd.messages.length > 0) this.out.push('  Messages:', ...rd.messages.map(m => `  ${describeMessage(m)}`))
    // persist, send, apply, advance
    if (rd.snapshot !== undefined) n.storage.applySnapshot(rd.snapshot)
    n.storage.append(rd.entries)
    if (rd.hardState !== undefined) n.storage.setHardState(rd.hardState)
    for (const m of rd.messages) this.nodes.get(m.to)?.inbox.push(m)
    if (rd.snapshot !== undefined) {
      n.applied = rd.snapshot.data.length === 0 ? [] : JSON.parse(dec.decode(rd.snapshot.data))
      n.confState = rd.snapshot.metadata.confState
      n.confHistory = [{ index: rd.snapshot.metadata.index, cs: n.confState }]
    }
    for (const e of rd.committedEntries) {
      if (e.type === EntryType.ConfChange) {
        n.confState = n.raw.applyConfChange(decodeConfChange(e.data))
        n.confHistory.push({ index: e.index, cs: n.confState })
      } else if (e.data.length > 0) {
        n.applied.push({ index: e.index, data: dec.decode(e.data) })
      }
    }
    n.raw.advance()
    return true
  }

  private deliver (n: EnvNode): boolean {
    if (n.inbox.length === 0) return false
    const msgs = n.inbox
    n.inbox = []
    this.out.push(`> ${n.id} receiving messages`)
    for (const m of msgs) {
      if (!this.canTalk(m.from, m.to)) {
        this.out.push(`  dropped: ${describeMessage(m)}`)
        continue
      }
      this.out.push(`  ${describeMessage(m)}`)
      const before = this.out.length
      n.raw.step(m)
      for (let i = before; i < this.out.length; i++) this.out[i] = `  ${this.out[i]}`
    }
    return true
  }

  private stabilize (ids: string[]): void {
    for (let round = 0; round < 1000; round++) {
      let progress = false
      for (const id of ids) {
        const n = this.node(id)
        const before = this.out.length
        const did = this.processReady(n)
        for (let i = before; i < this.out.length; i++) if (!this.out[i].startsWith('>') && !this.out[i].startsWith('  ')) this.out[i] = `  ${this.out[i]}`
        progress ||= did
      }
      for (const id of ids) progress = this.deliver(this.node(id)) || progress
      if (!progress) return
    }
    throw new Error('stabilize did not converge in 1000 rounds')
  }

  private compact (n: EnvNode, index: number): void {
    if (index > n.raw.status().applied) throw new Error(`cannot compact ${n.id} past its applied index`)
    const upTo = n.applied.filter(a => a.index <= index)
    const cs = n.confHistory.filter(h => h.index <= index).at(-1)?.cs ?? n.confState
    n.storage.createSnapshot(index, cs, enc.encode(JSON.stringify(upTo)))
    n.storage.compact(index)
    this.out.push(`${n.id} compacted log to index ${index} (first index ${n.storage.firstIndex()})`)
  }

  private raftState (): void {
    for (const n of this.nodes.values()) {
      const st = n.raw.status()
      const kind = st.voters.includes(n.id) ? 'Voter' : st.learners.includes(n.id) ? 'Learner' : 'NonMember'
      this.out.push(`${n.id}: ${ROLE_NAMES[st.role]} (${kind}) Term:${st.term} Lead:${st.lead === '' ? 0 : st.lead}`)
    }
  }

  private raftLog (n: EnvNode): void {
    const first = n.storage.firstIndex()
    const last = n.storage.lastIndex()
    if (last < first) {
      this.out.push(`log is empty: first index=${first}, last index=${last}`)
      return
    }
    for (const e of n.storage.entries(first, last + 1, Infinity)) this.out.push(describeEntry(e))
  }

  private status (n: EnvNode): void {
    const st = n.raw.status()
    for (const [id, pr] of Object.entries(st.progress).sort(([a], [b]) => a.localeCompare(b))) {
      let s = `${id}: ${pr.state} match=${pr.match} next=${pr.next}`
      if (pr.isLearner) s += ' learner'
      if (pr.paused) s += ' paused'
      if (pr.pendingSnapshot > 0) s += ` pendingSnap=${pr.pendingSnapshot}`
      if (!pr.recentActive) s += ' inactive'
      if (pr.inflight > 0) s += ` inflight=${pr.inflight}`
      this.out.push(s)
    }
  }
}

/** one test case of a transcript: the command, its line number and the output recorded for it */
export interface TranscriptCase {
  line: number
  commandText: string
  command: Command
  expected: string
}

export function parseCommand (text: string): Command {
  const parts = text.trim().split(/\s+/)
  const kv = new Map<string, string>()
  const args: string[] = []
  for (const p of parts.slice(1)) {
    const eq = p.indexOf('=')
    if (eq > 0) kv.set(p.slice(0, eq), p.slice(eq + 1))
    else args.push(p)
  }
  return { name: parts[0], args, kv }
}

/**
 * Transcript format: comment lines (#) and blank lines between cases; a case is one command line,
 * a `----` line, then the expected output up to the next blank line.
 */
export function parseTranscript (text: string): TranscriptCase[] {
  const lines = text.split('\n')
  const cases: TranscriptCase[] = []
  let i = 0
  while (i < lines.length) {
    const l = lines[i]
    if (l.trim() === '' || l.startsWith('#')) { i++; continue }
    const line = i + 1
    if (lines[i + 1] !== '----') throw new Error(`line ${line + 1}: expected ---- after command`)
    i += 2
    const out: string[] = []
    while (i < lines.length && lines[i] !== '') out.push(lines[i++])
    cases.push({ line, commandText: l, command: parseCommand(l), expected: out.join('\n') })
  }
  return cases
}

/** runs a transcript; returns the text it should contain (the rewritten file) */
export function runTranscript (text: string): { actual: string, cases: Array<TranscriptCase & { actual: string }> } {
  const env = new InteractionEnv()
  const results: Array<TranscriptCase & { actual: string }> = []
  const lines = text.split('\n')
  const rewritten: string[] = []
  let i = 0
  while (i < lines.length) {
    const l = lines[i]
    if (l.trim() === '' || l.startsWith('#')) { rewritten.push(l); i++; continue }
    const c = parseTranscript(lines.slice(i).join('\n'))[0]
    const actual = env.run(c.command)
    results.push({ ...c, line: c.line + i, actual })
    rewritten.push(l, '----', actual)
    i += 2
    while (i < lines.length && lines[i] !== '') i++
  }
  return { actual: rewritten.join('\n'), cases: results }
}
