/**
 * What each CLI command does once its flags are parsed (src/cli/args.ts): `relay` and `node` run
 * one peer with its HTTP admin API; `start` runs a relay, N Node peers (as child processes) and
 * the demo page. Each prints exactly one ready line on stdout, stops cleanly on SIGINT/SIGTERM
 * (state flushed) and exits 0.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdirSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { availableParallelism, totalmem } from 'node:os'
import { servePeer } from '../admin/serve.ts'
import { formatReadyLine, waitForReadyLine } from './ready.ts'
import { serveDemo } from './demo-server.ts'
import { demoBuildIsCurrent } from './demo-build.ts'
import type { CliCommand, NodeCommand, RelayCommand, StartCommand } from './args.ts'
import { componentLogger } from '../util/logger.ts'
import { InvalidArgumentError } from '../errors.ts'
import { privateKeyFromText } from '../security/index.ts'
import type { AdminExtras } from '../admin/index.ts'
import { readTextOrFile, runCredential, runKeygen } from './security-commands.ts'
import { applyClockSkew } from './clock-skew.ts'

const log = componentLogger('cli')

/** resolves on the first SIGINT or SIGTERM */
function untilSignal (): Promise<NodeJS.Signals> {
  return new Promise(resolve => {
    const on = (sig: NodeJS.Signals): void => {
      process.off('SIGINT', on); process.off('SIGTERM', on)
      resolve(sig)
    }
    process.on('SIGINT', on)
    process.on('SIGTERM', on)
  })
}

function packageRoot (): string {
  let dir = dirname(fileURLToPath(import.meta.url))
  while (!existsSync(join(dir, 'package.json')) || !existsSync(join(dir, 'bin', 'agentmesh.js'))) {
    const up = dirname(dir)
    if (up === dir) throw new Error('cannot find the agentmesh package root')
    dir = up
  }
  return dir
}

/** a relay given --admin-key issues credentials to callers holding AGENTMESH_ADMIN_SECRET */
function credentialIssuer (cmd: RelayCommand | NodeCommand): AdminExtras {
  if (cmd.command !== 'relay' || cmd.adminKey === undefined) return {}
  const secret = process.env.AGENTMESH_ADMIN_SECRET ?? ''
  if (secret.length < 16) throw new InvalidArgumentError('--admin-key needs AGENTMESH_ADMIN_SECRET (at least 16 characters) in the environment: the bearer secret of POST /credentials')
  return { credentialIssuer: { adminKey: privateKeyFromText(readTextOrFile('admin-key', cmd.adminKey)), secret } }
}

async function runPeer (cmd: RelayCommand | NodeCommand): Promise<number> {
  if (cmd.data != null) mkdirSync(cmd.data, { recursive: true })
  // fault injection (tests): a skewed or stepped wall clock, set before anything reads it
  const stopClockSkew = applyClockSkew()
  // listen for signals before announcing readiness: a supervisor may stop us the moment it reads the line
  const stopping = untilSignal()
  const peer = await servePeer({
    mesh: cmd.mesh,
    role: cmd.command === 'relay' ? 'relay' : 'node',
    host: cmd.host,
    port: cmd.port,
    storage: cmd.data != null ? join(cmd.data, 'store') : 'memory',
    bootstrap: cmd.command === 'node' ? cmd.bootstrap : undefined,
    capabilities: cmd.command === 'node'
      ? { cpu: cmd.cpu ?? availableParallelism(), memoryMb: cmd.memoryMb ?? Math.round(totalmem() / 1048576 / 4), tags: cmd.tags }
      : undefined,
    raft: { voter: cmd.command === 'relay' || cmd.voter },
    ...(cmd.meshKey !== undefined ? { meshKey: readTextOrFile('mesh-key', cmd.meshKey) } : {}),
    ...(cmd.credential !== undefined ? { credential: readTextOrFile('credential', cmd.credential) } : {})
  }, { host: cmd.httpHost, port: cmd.httpPort }, credentialIssuer(cmd))
  process.stdout.write(formatReadyLine({ peerId: peer.node.peerId, multiaddrs: peer.node.libp2p.getMultiaddrs().map(a => a.toString()), http: peer.http }) + '\n')
  const sig = await stopping
  log('%s: stopping', sig)
  stopClockSkew()
  await peer.stop()
  return 0
}

interface Child {
  name: string
  proc: ChildProcess
}

/**
 * extra Node options for the peers `start` spawns, from AGENTMESH_CHILD_NODE_ARGS (whitespace
 * separated), e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof` to profile them (Node 20 refuses
 * --cpu-prof in NODE_OPTIONS)
 */
function childNodeArgs (): string[] {
  return (process.env.AGENTMESH_CHILD_NODE_ARGS ?? '').split(/\s+/).filter(a => a.length > 0)
}

function spawnPeer (root: string, name: string, args: string[]): Child {
  const proc = spawn(process.execPath, [...process.execArgv, ...childNodeArgs(), join(root, 'bin', 'agentmesh.js'), ...args], {
    cwd: process.cwd(),
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, AGENTMESH_PARENT_PID: String(process.pid) }
  })
  return { name, proc }
}

async function stopChildren (children: Child[]): Promise<void> {
  await Promise.all(children.map(async ({ proc }) => {
    if (proc.exitCode != null || proc.signalCode != null) return
    const exited = new Promise(resolve => proc.once('exit', resolve))
    proc.kill('SIGTERM')
    const timer = setTimeout(() => proc.kill('SIGKILL'), 10_000)
    await exited
    clearTimeout(timer)
  }))
}

async function runStart (cmd: StartCommand): Promise<number> {
  const root = packageRoot()
  const children: Child[] = []
  const common = ['--mesh', cmd.mesh, '--host', cmd.host]
  const dataFor = (name: string): string[] => cmd.data != null ? ['--data', resolve(cmd.data, name)] : []
  const stopping = untilSignal()
  try {
    const demoRoot = join(root, 'dist', 'demo')
    const built = buildDemo(root, demoRoot)

    const relay = spawnPeer(root, 'relay', ['relay', ...common, '--port', String(cmd.port), '--http-port', String(cmd.port === 0 ? 0 : cmd.port + 1), ...dataFor('relay')])
    children.push(relay)
    const relayReady = await waitForReadyLine(relay.proc.stdout!, { signal: AbortSignal.timeout(60_000) })
    const bootstrap = relayReady.multiaddrs.filter(a => a.includes('/ws/'))

    const nodes = Array.from({ length: cmd.nodes }, (_, i) => spawnPeer(root, `node-${i + 1}`,
      ['node', ...common, '--bootstrap', relayReady.multiaddrs.join(','), '--port', '0', '--http-port', '0', ...dataFor(`node-${i + 1}`)]))
    children.push(...nodes)
    const nodesReady = await Promise.all(nodes.map(async n => await waitForReadyLine(n.proc.stdout!, { signal: AbortSignal.timeout(60_000) })))

    await built
    const demo = await serveDemo(demoRoot, { bootstrap, mesh: cmd.mesh }, { host: cmd.host, port: cmd.demoPort })
    process.stdout.write(formatReadyLine({ ...relayReady, demo: demo.url }) + '\n')
    process.stderr.write(`agentmesh: relay ${relayReady.http}, ${nodesReady.length} node peers (${nodesReady.map(n => n.http).join(', ')})\n`)
    process.stderr.write(`agentmesh: open ${demo.url} in a few tabs; Ctrl-C stops everything\n`)

    for (const c of children) {
      c.proc.once('exit', (code, signal) => { log('%s exited (%s)', c.name, signal ?? code) })
    }
    await stopping
    await demo.close()
    return 0
  } finally {
    await stopChildren(children)
  }
}

/** builds the demo page with Vite unless the build there is newer than its sources */
async function buildDemo (root: string, outDir: string): Promise<void> {
  if (demoBuildIsCurrent(root, outDir)) return
  const vite = await import('vite')
  await vite.build({ root, configFile: join(root, 'vite.config.ts'), logLevel: 'warn' })
}

export async function runCommand (cmd: CliCommand): Promise<number> {
  switch (cmd.command) {
    case 'relay':
    case 'node':
      return await runPeer(cmd)
    case 'start':
      return await runStart(cmd)
    case 'keygen':
      return await runKeygen(cmd, process.stdout)
    case 'credential':
      return await runCredential(cmd, process.stdout)
    default:
      throw new Error(`command ${(cmd as { command: string }).command} is handled by main`)
  }
}

