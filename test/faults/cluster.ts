/**
 * A mesh of CLI processes in a NetnsLab: a relay (peer 0) and Node peers, each in its own network
 * namespace, listening on its lab address with fixed ports (so a restart on the same --data is
 * the same peer at the same address). The test reaches their admin APIs through the proxy in the
 * lab's client namespace (ns-proxy.mjs), over a Unix socket. Process faults: SIGKILL, SIGSTOP /
 * SIGCONT, restart.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import http from 'node:http'
import { appendFileSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { waitForReadyLine, type ReadyInfo } from '../../src/cli/ready.ts'
import { NetnsLab } from './netns.ts'

const BIN = fileURLToPath(new URL('../../bin/agentmesh.js', import.meta.url))
const PROXY = fileURLToPath(new URL('./ns-proxy.mjs', import.meta.url))
export const P2P_PORT = 9000
export const HTTP_PORT = 9001
/** generous: on a loaded 2-core machine (load 30 seen) a peer process can take a minute to start */
const READY_TIMEOUT_MS = 90_000
const STOP_TIMEOUT_MS = 10_000
/** FAULTS_PEER_LOG_DIR=<dir>: every peer's whole stderr (with DEBUG=agentmesh:* its debug log) goes to <dir>/<lab>-<peer>.log */
const PEER_LOG_DIR = process.env.FAULTS_PEER_LOG_DIR

export interface LabHttpAnswer { status: number, json: any }

export interface MeshPeer {
  index: number
  name: string
  host: string
  ns: string
  data: string
  proc: ChildProcess | undefined
  ready: ReadyInfo | undefined
  paused: boolean
  stderr: string
  /** the wall-clock skew the peer reads (AGENTMESH_CLOCK_SKEW_FILE), ms */
  skewMs: number
  skewFile: string
}

async function exited (proc: ChildProcess): Promise<void> {
  if (proc.exitCode != null || proc.signalCode != null) return
  await new Promise<void>(resolve => proc.once('exit', () => { resolve() }))
}

export class LabMesh {
  readonly lab: NetnsLab
  readonly peers: MeshPeer[] = []
  readonly mesh: string
  private readonly dir: string
  private readonly socketPath: string
  private proxy: ChildProcess | undefined
  private stopping = false
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 64 })
  private readonly log: (line: string) => void

  private constructor (lab: NetnsLab, mesh: string, log: (line: string) => void) {
    this.lab = lab
    this.mesh = mesh
    this.log = log
    this.dir = mkdtempSync(join(tmpdir(), 'agentmesh-lab-'))
    this.socketPath = join(this.dir, 'client.sock')
  }

  /** a lab with `nodes` Node peers besides the relay, all started, and the client proxy */
  static async start (tag: string, nodes: number, options: { log?: (line: string) => void } = {}): Promise<LabMesh> {
    const lab = await NetnsLab.create(tag, nodes + 1)
    const m = new LabMesh(lab, `lab${tag}`, options.log ?? (() => {}))
    try {
      await m.startProxy()
      for (const p of lab.peers) {
        m.peers.push({ index: p.index, name: p.index === 0 ? 'relay' : `node${p.index}`, host: p.host, ns: p.ns, data: join(m.dir, `peer${p.index}`), proc: undefined, ready: undefined, paused: false, stderr: '', skewMs: 0, skewFile: join(m.dir, `peer${p.index}.skew`) })
      }
      // one at a time: on a loaded machine, peers started together can be slow enough to miss each
      // other for the Raft bootstrap wait, and one then founds a group of its own (see docs/faults.md)
      for (const p of m.peers) await m.startPeer(p.index)
    } catch (err) {
      await m.stop()
      throw err
    }
    return m
  }

  private async startProxy (): Promise<void> {
    const proc = spawn('ip', ['netns', 'exec', this.lab.clientNs, process.execPath, PROXY, this.socketPath], {
      stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, AGENTMESH_PARENT_PID: String(process.pid) }
    })
    this.proxy = proc
    let proxyErr = ''
    proc.stderr!.on('data', (d: Buffer) => { proxyErr = (proxyErr + d.toString()).slice(-2000) })
    proc.once('exit', (code, signal) => { if (this.proxy === proc && !this.stopping) this.log(`the lab proxy exited (${String(code ?? signal)}): ${proxyErr}`) })
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => { reject(new Error('the lab proxy did not start')) }, 10_000)
      proc.stdout!.on('data', (d: Buffer) => { if (d.toString().includes('ns-proxy ready')) { clearTimeout(timer); resolve() } })
      proc.once('exit', code => { clearTimeout(timer); reject(new Error(`the lab proxy exited with ${String(code)}`)) })
    })
  }

  private bootstrap (): string[] {
    // the relay's --port is its WebSocket port; its TCP port is a free one: take what it announced
    return this.peers[0].ready?.multiaddrs ?? []
  }

  /** starts (or restarts, same --data, same address) a peer and waits for its ready line */
  async startPeer (index: number): Promise<void> {
    const p = this.peers[index]
    if (p.proc !== undefined) throw new Error(`${p.name} is running`)
    const common = ['--host', p.host, '--port', String(P2P_PORT), '--http-host', p.host, '--http-port', String(HTTP_PORT), '--data', p.data, '--mesh', this.mesh]
    const args = index === 0 ? ['relay', ...common] : ['node', ...common, '--bootstrap', this.bootstrap().join(',')]
    const proc = spawn('ip', ['netns', 'exec', p.ns, process.execPath, BIN, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, AGENTMESH_PARENT_PID: String(process.pid), AGENTMESH_CLOCK_SKEW_FILE: p.skewFile }
    })
    p.stderr = ''
    const logFile = PEER_LOG_DIR === undefined ? undefined : join(PEER_LOG_DIR, `${this.mesh}-${p.name}.log`)
    proc.stderr!.on('data', (d: Buffer) => {
      p.stderr = (p.stderr + d.toString()).slice(-4000)
      if (logFile !== undefined) appendFileSync(logFile, d)
    })
    try {
      p.ready = await waitForReadyLine(proc.stdout!, { signal: AbortSignal.timeout(READY_TIMEOUT_MS) })
    } catch (err) {
      proc.kill('SIGKILL')
      throw new Error(`${p.name} did not become ready: ${(err as Error).message}\n${p.stderr}`)
    }
    p.proc = proc
    p.paused = false
    this.log(`${p.name} up (${p.ready.peerId.slice(-6)} at ${p.host})`)
  }

  /**
   * sets the wall-clock skew a peer reads: a running peer picks it up within CLOCK_SKEW_POLL_MS
   * (a step), a stopped one when it starts (a restart with a skewed clock)
   */
  setClockSkew (index: number, ms: number): void {
    const p = this.peers[index]
    const tmp = `${p.skewFile}.tmp`
    writeFileSync(tmp, String(Math.round(ms)))
    renameSync(tmp, p.skewFile)
    p.skewMs = Math.round(ms)
    this.log(`${p.name} wall clock skew ${p.skewMs} ms`)
  }

  peerById (peerId: string | null | undefined): MeshPeer | undefined {
    return this.peers.find(p => p.ready?.peerId === peerId)
  }

  running (): MeshPeer[] {
    return this.peers.filter(p => p.proc !== undefined && !p.paused)
  }

  async kill (index: number): Promise<void> {
    const p = this.peers[index]
    if (p.proc === undefined) return
    p.proc.kill('SIGKILL')
    await exited(p.proc)
    p.proc = undefined
    p.paused = false
    this.log(`${p.name} SIGKILL`)
  }

  pause (index: number): void {
    const p = this.peers[index]
    if (p.proc === undefined || p.paused) return
    p.proc.kill('SIGSTOP')
    p.paused = true
    this.log(`${p.name} SIGSTOP`)
  }

  resume (index: number): void {
    const p = this.peers[index]
    if (p.proc === undefined || !p.paused) return
    p.proc.kill('SIGCONT')
    p.paused = false
    this.log(`${p.name} SIGCONT`)
  }

  /** an admin API call through the client namespace; 598/599 when the peer did not answer */
  async call (index: number, method: string, path: string, body?: unknown, timeoutMs = 4000): Promise<LabHttpAnswer> {
    const p = this.peers[index]
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body))
    return await new Promise<LabHttpAnswer>((resolve, reject) => {
      const req = http.request({
        socketPath: this.socketPath,
        agent: this.agent,
        method,
        path: `/${p.host}:${HTTP_PORT}${path}`,
        headers: { 'x-timeout-ms': String(Math.round(timeoutMs)), ...(payload !== undefined ? { 'content-type': 'application/json', 'content-length': String(payload.length) } : {}) }
      }, res => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString()
          let json: unknown
          try { json = text.length > 0 ? JSON.parse(text) : undefined } catch { json = text }
          resolve({ status: res.statusCode ?? 0, json })
        })
        res.on('error', reject)
      })
      req.setTimeout(timeoutMs + 5000, () => { req.destroy(new Error('lab proxy did not answer')) })
      req.on('error', reject)
      req.end(payload)
    })
  }

  /** the peer every running peer names as leader, when they agree; else undefined */
  async agreedLeader (): Promise<MeshPeer | undefined> {
    const st = await Promise.all(this.running().map(async p => await this.call(p.index, 'GET', '/consensus').catch(() => undefined)))
    const leaders = new Set(st.map(s => s?.status === 200 ? s.json.leader as string | null : null))
    if (leaders.size !== 1) return undefined
    return this.peerById([...leaders][0])
  }

  /** every peer runs, agrees on one leader, and (if `voters` > 0) the group has that many voters */
  async waitForGroup (voters: number, timeoutMs: number): Promise<void> {
    const deadline = performance.now() + timeoutMs
    let last = ''
    for (;;) {
      const st = await Promise.all(this.peers.map(async p => p.proc === undefined || p.paused ? undefined : await this.call(p.index, 'GET', '/consensus').catch(() => undefined)))
      last = JSON.stringify(st.map(s => s?.status === 200 ? [s.json.role, s.json.voters.length, s.json.leader?.slice(-4), s.json.commitIndex] : s?.status ?? 'down'))
      const ok = st.every(s => s?.status === 200 && s.json.role !== 'none' && s.json.leader != null && (voters === 0 || s.json.voters.length === voters))
      if (ok && new Set(st.map(s => s!.json.leader)).size === 1) return
      if (performance.now() > deadline) throw new Error(`the group did not settle within ${timeoutMs} ms: ${last}`)
      await new Promise(resolve => setTimeout(resolve, 200))
    }
  }

  /** stops every process (SIGCONT + SIGTERM, SIGKILL after a bound), the proxy, and the lab */
  async stop (): Promise<void> {
    this.stopping = true
    await Promise.allSettled(this.peers.map(async p => {
      const proc = p.proc
      if (proc === undefined) return
      proc.kill('SIGCONT')
      proc.kill('SIGTERM')
      const timer = setTimeout(() => proc.kill('SIGKILL'), STOP_TIMEOUT_MS)
      await exited(proc)
      clearTimeout(timer)
      p.proc = undefined
    }))
    if (this.proxy !== undefined) {
      this.proxy.kill('SIGTERM')
      await exited(this.proxy)
    }
    this.agent.destroy()
    await this.lab.destroy()
    rmSync(this.dir, { recursive: true, force: true })
  }
}
