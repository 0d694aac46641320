/**
 * Starting CLI processes in tests: spawn, wait for the ready line, talk HTTP, stop. With
 * AGENTMESH_TEST_PEER_LOG_DIR set, each process's stderr (its DEBUG log) also goes to
 * `<dir>/<command>-<pid>.log`, e.g. `DEBUG='agentmesh:*' AGENTMESH_TEST_PEER_LOG_DIR=/tmp/x`.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { createWriteStream } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { waitForReadyLine, type ReadyInfo } from '../../src/cli/ready.ts'

const BIN = fileURLToPath(new URL('../../bin/agentmesh.js', import.meta.url))

export interface PeerProcess {
  ready: ReadyInfo
  proc: ChildProcess
  kill: (signal: NodeJS.Signals) => void
  /** SIGTERM, and SIGKILL if it hasn't exited after 10 s; resolves with the exit code */
  stop: () => Promise<number | null>
}

export async function startProcess (args: string[], options: { env?: Record<string, string>, readyTimeoutMs?: number } = {}): Promise<PeerProcess> {
  const proc = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, AGENTMESH_PARENT_PID: String(process.pid), ...options.env } })
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
