/**
 * Starting CLI processes in tests: spawn, wait for the ready line, talk HTTP, stop. With
 * AGENTMESH_TEST_PEER_LOG_DIR set, each process's stderr (its DEBUG log) also goes to
 * `<dir>/<command>-<pid>.log`, e.g. `DEBUG='agentmesh:*' AGENTMESH_TEST_PEER_LOG_DIR=/tmp/x`; with
 * AGENTMESH_TEST_PEER_EXEC_ARGV set, each process gets those Node flags (profiling a run).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { createWriteStream, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { waitForReadyLine, type ReadyInfo } from '../../src/cli/ready.ts'

const BIN = fileURLToPath(new URL('../../bin/agentmesh.js', import.meta.url))

/** Node flags for each peer process, e.g. AGENTMESH_TEST_PEER_EXEC_ARGV='--cpu-prof --cpu-prof-dir=/tmp/prof' */
function peerExecArgv (): string[] {
  return (process.env.AGENTMESH_TEST_PEER_EXEC_ARGV ?? '').split(' ').filter(a => a !== '')
}

export interface PeerProcess {
  ready: ReadyInfo
  proc: ChildProcess
  kill: (signal: NodeJS.Signals) => void
  /** SIGTERM, and SIGKILL if it hasn't exited after 10 s; resolves with the exit code */
  stop: () => Promise<number | null>
}

export async function startProcess (args: string[], options: { env?: Record<string, string>, readyTimeoutMs?: number } = {}): Promise<PeerProcess> {
  const proc = spawn(process.execPath, [...peerExecArgv(), BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, AGENTMESH_PARENT_PID: String(process.pid), ...options.env } })
  let stderr = ''
  proc.stderr!.on('data', (d: Buffer) => { stderr = (stderr + d.toString()).slice(-4000) })
  const logDir = process.env.AGENTMESH_TEST_PEER_LOG_DIR
  if (logDir != null && logDir !== '') {
    const out = createWriteStream(join(logDir, `${args[0] ?? 'peer'}-${proc.pid ?? 0}.log`))
    proc.stderr!.pipe(out)
  }
  let ready: ReadyInfo
  try {
    ready = await waitForReadyLine(proc.stdout!, { signal: AbortSignal.timeout(options.readyTimeoutMs ?? 30_000) })
  } catch (err) {
    proc.kill('SIGKILL')
    throw new Error(`process ${args.join(' ')} did not become ready: ${(err as Error).message}\n${stderr}`)
  }
  const exited = new Promise<number | null>(resolve => proc.once('exit', code => { resolve(code) }))
  return {
    ready,
    proc,
    kill: (signal) => { proc.kill(signal) },
    stop: async () => {
      if (proc.exitCode != null || proc.signalCode != null) return proc.exitCode
      proc.kill('SIGCONT')
      proc.kill('SIGTERM')
      const timer = setTimeout(() => proc.kill('SIGKILL'), 10_000)
      const code = await exited
      clearTimeout(timer)
      return code
    }
  }
}

/** a JSON POST to a peer's admin API: its status and JSON body */
export async function postJson<T> (p: PeerProcess, path: string, body: unknown, timeoutMs = 10_000): Promise<{ status: number, json: T }> {
  const res = await fetch(p.ready.http + path, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), signal: AbortSignal.timeout(timeoutMs)
  })
  return { status: res.status, json: await res.json() as T }
}

/**
 * a relay and `count` Node peers (each with `--data` under `dir`, admin API on a free port),
 * returned once every Node peer takes agents (holds a node lease and advertises its kinds: a
 * pinned `probe-<id>` echo agent is deployed on each)
 */
export async function startProcessMesh (dir: string, mesh: string, count: number): Promise<{ relay: PeerProcess, nodes: PeerProcess[] }> {
  const args = ['--mesh', mesh, '--http-port', '0']
  const relay = await startProcess(['relay', '--port', '0', '--data', join(dir, 'relay'), ...args])
  const boot = relay.ready.multiaddrs.join(',')
  const nodes: PeerProcess[] = []
  try {
    for (let i = 0; i < count; i++) nodes.push(await startProcess(['node', '--bootstrap', boot, '--data', join(dir, `n${i}`), ...args]))
    for (const n of nodes) {
      await waitUntil(async () => (await postJson(relay, '/agents', { id: `probe-${n.ready.peerId.slice(-6)}`, kind: 'echo', node: n.ready.peerId })).status === 201,
        60_000, 'each node to take agents (a deployment pinned to it accepted)')
    }
  } catch (err) {
    await Promise.all([relay, ...nodes].map(async p => await p.stop()))
    throw err
  }
  return { relay, nodes }
}

export async function getJson<T> (p: PeerProcess, path: string, init?: RequestInit): Promise<T> {
  const res = await fetch(p.ready.http + path, { ...init, signal: AbortSignal.timeout(5000) })
  return await res.json() as T
}

export async function waitUntil (predicate: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    try {
      if (await predicate()) return
    } catch {}
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 25))
  }
}

let clockTicks: number | undefined

/**
 * User + system CPU time of a process in ms, from /proc/<pid>/stat; undefined where that cannot be
 * read (not Linux, or the process has exited).
 */
export function processCpuMs (pid: number): number | undefined {
  let fields: string[]
  try {
    fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')
  } catch {
    return undefined
  }
  clockTicks ??= Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100
  return (Number(fields[11]) + Number(fields[12])) * 1000 / clockTicks // utime, stime (fields 14 and 15 of stat)
}
