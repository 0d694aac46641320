/**
 * A network lab of Linux network namespaces: one namespace per peer, each joined by a veth pair to
 * a bridge that lives in a namespace of its own, plus a client namespace on the same bridge from
 * which the test talks to the peers' admin APIs. Nothing is added to the host's root namespace
 * (the veth pairs are created directly inside their namespaces).
 *
 * Faults are iptables rules in each peer namespace's `AMFAULT` chain (INPUT jumps to it for
 * everything but the client's traffic, so the test always sees every peer): dropping packets from
 * chosen peers (partitions, asymmetric cuts) or at random (`statistic` match). `heal()` flushes them.
 *
 * Names carry the creating process id (`am-<pid>-...`): `cleanStaleNamespaces()` deletes those
 * whose creator is gone; `destroy()` and a process exit hook delete this lab's.
 */
import { execFile, execFileSync } from 'node:child_process'
import { promisify } from 'node:util'

const run = promisify(execFile)

/** the lab's subnet; every lab has its own bridge in its own namespace, so labs never collide */
export const LAB_SUBNET = '10.213.0'
export const CLIENT_HOST = `${LAB_SUBNET}.250`
const CHAIN = 'AMFAULT'
/** a bound on every ip/iptables call */
const COMMAND_TIMEOUT_MS = 10_000

/** true when this process may build namespaces: root, with `ip netns` and iptables available */
export function netnsAvailable (): { ok: true } | { ok: false, reason: string } {
  if (process.platform !== 'linux') return { ok: false, reason: 'network namespaces need Linux' }
  if (process.getuid?.() !== 0) return { ok: false, reason: 'network namespaces need root (run as root, as CI does)' }
  for (const [cmd, args] of [['ip', ['netns', 'list']], ['iptables', ['--version']]] as const) {
    try {
      execFileSync(cmd, args, { stdio: 'ignore', timeout: COMMAND_TIMEOUT_MS })
    } catch (err) {
      return { ok: false, reason: `\`${cmd} ${args.join(' ')}\` failed: ${(err as Error).message}` }
    }
  }
  return { ok: true }
}

function pidAlive (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

function listNamespaces (): string[] {
  const out = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8', timeout: COMMAND_TIMEOUT_MS })
  return out.split('\n').map(l => l.split(' ')[0]).filter(n => n.length > 0)
}

/** deletes `am-<pid>-*` namespaces whose creating process no longer runs; returns their names */
export function cleanStaleNamespaces (): string[] {
  const removed: string[] = []
  for (const ns of listNamespaces()) {
    const m = /^am-(\d+)-/.exec(ns)
    if (m === null || pidAlive(Number(m[1]))) continue
    try {
      execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore', timeout: COMMAND_TIMEOUT_MS })
      removed.push(ns)
    } catch {}
  }
  return removed
}

export interface LabPeer {
  index: number
  /** namespace name */
  ns: string
  /** its address on the bridge */
  host: string
}

let labCounter = 0

export class NetnsLab {
  readonly id: string
  readonly peers: LabPeer[] = []
  readonly bridgeNs: string
  readonly clientNs: string
  private readonly created: string[] = []
  private destroyed = false
  private readonly exitHook = (): void => { this.destroySync() }

  private constructor (tag: string) {
    this.id = `am-${process.pid}-${tag}${++labCounter}`
    this.bridgeNs = `${this.id}-br`
    this.clientNs = `${this.id}-c`
  }

  /** builds the bridge, the client namespace and `peers` peer namespaces */
  static async create (tag: string, peers: number): Promise<NetnsLab> {
    if (!/^[a-z0-9]{1,8}$/.test(tag)) throw new RangeError('a lab tag is 1-8 of [a-z0-9]')
    if (peers < 1 || peers > 200) throw new RangeError('1-200 peers')
    cleanStaleNamespaces()
    const lab = new NetnsLab(tag)
    process.once('exit', lab.exitHook)
    try {
      await lab.addNamespace(lab.bridgeNs)
      await lab.exec(lab.bridgeNs, 'ip', 'link', 'add', 'br0', 'type', 'bridge')
      await lab.exec(lab.bridgeNs, 'ip', 'link', 'set', 'br0', 'up')
      await lab.attach(lab.clientNs, 'c', CLIENT_HOST)
      for (let i = 0; i < peers; i++) {
        const ns = `${lab.id}-${i}`
        const host = `${LAB_SUBNET}.${i + 10}`
        await lab.attach(ns, String(i), host)
        await lab.exec(ns, 'iptables', '-N', CHAIN)
        await lab.exec(ns, 'iptables', '-A', 'INPUT', '-s', CLIENT_HOST, '-j', 'ACCEPT')
        await lab.exec(ns, 'iptables', '-A', 'INPUT', '-j', CHAIN)
        lab.peers.push({ index: i, ns, host })
      }
    } catch (err) {
      await lab.destroy()
      throw err
    }
    return lab
  }

  private async addNamespace (ns: string): Promise<void> {
    await run('ip', ['netns', 'add', ns], { timeout: COMMAND_TIMEOUT_MS })
    this.created.push(ns)
    await this.exec(ns, 'ip', 'link', 'set', 'lo', 'up')
  }

  /** a namespace with one veth end (`am0`, at `host`) whose other end is on the bridge */
  private async attach (ns: string, suffix: string, host: string): Promise<void> {
    await this.addNamespace(ns)
    const bridgeEnd = `p${suffix}`
    await run('ip', ['link', 'add', 'am0', 'netns', ns, 'type', 'veth', 'peer', 'name', bridgeEnd, 'netns', this.bridgeNs], { timeout: COMMAND_TIMEOUT_MS })
    await this.exec(this.bridgeNs, 'ip', 'link', 'set', bridgeEnd, 'master', 'br0')
    await this.exec(this.bridgeNs, 'ip', 'link', 'set', bridgeEnd, 'up')
    await this.exec(ns, 'ip', 'addr', 'add', `${host}/24`, 'dev', 'am0')
    await this.exec(ns, 'ip', 'link', 'set', 'am0', 'up')
  }

  /** runs a command inside a namespace */
  async exec (ns: string, cmd: string, ...args: string[]): Promise<string> {
    const { stdout } = await run('ip', ['netns', 'exec', ns, cmd, ...args], { timeout: COMMAND_TIMEOUT_MS })
    return stdout
  }

  private peer (i: number): LabPeer {
    const p = this.peers[i]
    if (p === undefined) throw new RangeError(`no peer ${i} in the lab`)
    return p
  }

  /** drops every packet `to` receives from `from` (one direction: `from` -> `to`) */
  async dropFrom (to: number, from: number): Promise<void> {
    await this.exec(this.peer(to).ns, 'iptables', '-A', CHAIN, '-s', this.peer(from).host, '-j', 'DROP')
  }

  /**
   * no packet crosses between the two groups, in either direction; peers in no group are untouched.
   * One iptables call per namespace (its sources comma-joined), all namespaces at once: the cut
   * lands within one call's time. Added one pair at a time (four calls in a row to isolate one of
   * three peers) it took ~1.5 s at load ~25, as long as a node lease lasts after its last renewal,
   * so minority-read's read right after the cut found the lease already lapsed in 4 of 4 cuts.
   */
  async partition (...groups: number[][]): Promise<void> {
    const sources = new Map<number, string[]>()
    for (const [gi, group] of groups.entries()) {
      for (const a of group) {
        for (const [gj, other] of groups.entries()) {
          if (gi === gj) continue
          for (const b of other) sources.set(a, [...(sources.get(a) ?? []), this.peer(b).host])
        }
      }
    }
    await Promise.all([...sources].map(async ([to, hosts]) => {
      await this.exec(this.peer(to).ns, 'iptables', '-A', CHAIN, '-s', hosts.join(','), '-j', 'DROP')
    }))
  }

  /** `peer` can talk to nobody (but the client) */
  async isolate (peer: number): Promise<void> {
    await this.partition([peer], this.peers.map(p => p.index).filter(i => i !== peer))
  }

  /**
   * one direction only, the whole cut at once: `peer` drops everything it receives from the other
   * peers (its own packets still go out; TCP to it stalls once its acks are missed)
   */
  async deafen (peer: number): Promise<void> {
    const others = this.peers.filter(p => p.index !== peer).map(p => p.host)
    await this.exec(this.peer(peer).ns, 'iptables', '-A', CHAIN, '-s', others.join(','), '-j', 'DROP')
  }

  /** one direction only, the whole cut at once: every other peer drops what `peer` sends (it still receives) */
  async mute (peer: number): Promise<void> {
    const from = this.peer(peer).host
    await Promise.all(this.peers.filter(p => p.index !== peer).map(async p => {
      await this.exec(p.ns, 'iptables', '-A', CHAIN, '-s', from, '-j', 'DROP')
    }))
  }

  /**
   * a bridge partition: `bridge` talks to both sides, the sides do not talk to each other
   * (Jepsen's "bridge": the middle peer sees a majority on each side)
   */
  async bridge (left: number[], bridge: number, right: number[]): Promise<void> {
    await this.partition(left.filter(i => i !== bridge), right.filter(i => i !== bridge))
  }

  /** each peer drops packets from other peers at random with probability `p` (0-1) */
  async randomLoss (p: number, peers: number[] = this.peers.map(x => x.index)): Promise<void> {
    if (!(p > 0 && p < 1)) throw new RangeError('a loss probability is in (0, 1)')
    for (const i of peers) {
      await this.exec(this.peer(i).ns, 'iptables', '-A', CHAIN, '-m', 'statistic', '--mode', 'random', '--probability', String(p), '-j', 'DROP')
    }
  }

  /** removes every fault rule */
  async heal (): Promise<void> {
    for (const p of this.peers) await this.exec(p.ns, 'iptables', '-F', CHAIN)
  }

  /** the fault rules in place, per peer (for logs) */
  async rules (): Promise<string[]> {
    return await Promise.all(this.peers.map(async p => (await this.exec(p.ns, 'iptables', '-S', CHAIN)).trim()))
  }

  /** deletes every namespace of the lab (their veth pairs go with them) */
  async destroy (): Promise<void> {
    if (this.destroyed) return
    this.destroyed = true
    process.removeListener('exit', this.exitHook)
    for (const ns of this.created.reverse()) {
      try { await run('ip', ['netns', 'del', ns], { timeout: COMMAND_TIMEOUT_MS }) } catch {}
    }
  }

  private destroySync (): void {
    if (this.destroyed) return
    this.destroyed = true
    for (const ns of this.created.reverse()) {
      try { execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore', timeout: COMMAND_TIMEOUT_MS }) } catch {}
    }
  }
}
