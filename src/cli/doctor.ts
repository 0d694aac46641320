/**
 * `agentmesh doctor`: the connectivity self-test of a running mesh, from this machine. Asks the
 * relay's admin API for its health and addresses, opens its WebSocket (what browsers dial) and TCP
 * (what Node peers dial) ports, checks membership and the Raft leader, and that the demo page
 * hands out the relay's address. Prints one line per check and what to do about a failure.
 *
 *   agentmesh doctor [--http URL] [--demo URL] [--timeout-ms N]
 *
 * Exit code 0 when every check passed, 1 when one failed, 2 for bad flags.
 */
import { connect } from 'node:net'
import { existsSync } from 'node:fs'
import WebSocket from 'ws'
import { InvalidArgumentError } from '../errors.ts'
import { DEFAULT_RELAY_HTTP_PORT, DEFAULT_START_DEMO_PORT } from './constants.ts'
import { parseIntegerIn, quote } from './values.ts'

export const DEFAULT_DOCTOR_TIMEOUT_MS = 3000
export const MAX_DOCTOR_TIMEOUT_MS = 60_000
/** a body the checks read is cut off beyond this */
const MAX_BODY_BYTES = 1024 * 1024

export interface DoctorOptions {
  /** the relay's HTTP admin API */
  http: string
  /** the demo page (`agentmesh start`), or undefined to skip it */
  demo?: string
  timeoutMs: number
}

export type CheckStatus = 'ok' | 'fail' | 'note'

export interface DoctorCheck {
  name: string
  status: CheckStatus
  detail: string
}

export const DOCTOR_USAGE = `usage: agentmesh doctor [flags]

Checks that a running mesh is reachable from this machine: the relay's admin API and health,
its WebSocket (browsers) and TCP (Node peers) ports, membership, the Raft leader, and the demo
page's bootstrap address. Prints what failed and what to try.

  --http URL         the relay's admin API (default http://127.0.0.1:${DEFAULT_RELAY_HTTP_PORT})
  --demo URL         the demo page (default http://127.0.0.1:${DEFAULT_START_DEMO_PORT}/); --demo none skips it
  --timeout-ms N     per check (default ${DEFAULT_DOCTOR_TIMEOUT_MS})
`

function parseUrl (flag: string, value: string): string {
  let url: URL
  try { url = new URL(value) } catch { throw new InvalidArgumentError(`--${flag} must be an http:// URL, got ${quote(value)}`) }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new InvalidArgumentError(`--${flag} must be an http:// URL, got ${quote(value)}`)
  return url.toString().replace(/\/$/, '')
}

/** parses the flags after `doctor`; throws InvalidArgumentError naming the flag */
export function parseDoctorArgs (argv: readonly string[]): DoctorOptions | 'help' {
  const opts: DoctorOptions = { http: `http://127.0.0.1:${DEFAULT_RELAY_HTTP_PORT}`, demo: `http://127.0.0.1:${DEFAULT_START_DEMO_PORT}`, timeoutMs: DEFAULT_DOCTOR_TIMEOUT_MS }
  const seen = new Set<string>()
  for (let i = 0; i < argv.length; i++) {
    const token = argv[i]
    if (token === '--help' || token === '-h') return 'help'
    const m = /^--([a-z-]+)(?:=(.*))?$/.exec(token)
    if (m == null) throw new InvalidArgumentError(`unexpected argument ${quote(token)} (see agentmesh doctor --help)`)
    const name = m[1]
    if (!['http', 'demo', 'timeout-ms'].includes(name)) throw new InvalidArgumentError(`unknown flag --${name} for doctor (expected --http, --demo, --timeout-ms)`)
    if (seen.has(name)) throw new InvalidArgumentError(`--${name} given twice`)
    seen.add(name)
    const value = m[2] ?? argv[++i]
    if (value === undefined || value.startsWith('--')) throw new InvalidArgumentError(`--${name} needs a value`)
    if (name === 'http') opts.http = parseUrl(name, value)
    else if (name === 'demo') opts.demo = value === 'none' ? undefined : parseUrl(name, value)
    else opts.timeoutMs = parseIntegerIn(name, value, 100, MAX_DOCTOR_TIMEOUT_MS)
  }
  return opts
}

async function getJson (url: string, timeoutMs: number): Promise<{ status: number, body: unknown }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) })
  const text = await res.text()
  if (text.length > MAX_BODY_BYTES) throw new Error(`${url} answered more than ${MAX_BODY_BYTES} bytes`)
  try {
    return { status: res.status, body: JSON.parse(text) }
  } catch {
    throw new Error(`${url} answered ${res.status} with something that is not JSON`)
  }
}

function unreachable (err: unknown): string {
  const e = err as { name?: string, message?: string, cause?: { code?: string, message?: string } }
  if (e?.name === 'TimeoutError' || e?.name === 'AbortError') return 'no answer in time'
  return e?.cause?.code ?? e?.cause?.message ?? e?.message ?? String(err)
}

/** host and port of a multiaddr like /ip4/127.0.0.1/tcp/9090/ws/p2p/... */
export function hostPortOf (addr: string): { host: string, port: number } | undefined {
  const m = /^\/(ip4|ip6|dns4|dns6|dns)\/([^/]+)\/tcp\/(\d+)/.exec(addr)
  return m == null ? undefined : { host: m[2], port: Number(m[3]) }
}

async function openWebSocket (url: string, timeoutMs: number): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const ws = new WebSocket(url, { handshakeTimeout: timeoutMs })
    ws.once('open', () => { ws.terminate(); resolve() })
    ws.once('error', (err) => { ws.terminate(); reject(err) })
  })
}

async function openTcp (host: string, port: number, timeoutMs: number): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const socket = connect({ host, port, timeout: timeoutMs })
    socket.once('connect', () => { socket.destroy(); resolve() })
    socket.once('timeout', () => { socket.destroy(); reject(new Error('no answer in time')) })
    socket.once('error', (err) => { socket.destroy(); reject(err) })
  })
}

const isLoopback = (addr: string): boolean => /^\/(ip4\/127\.|ip6\/::1\/|dns4\/localhost\/|dns\/localhost\/)/.test(addr)

export async function runDoctor (opts: DoctorOptions): Promise<DoctorCheck[]> {
  const checks: DoctorCheck[] = []
  const add = (name: string, status: CheckStatus, detail: string): void => { checks.push({ name, status, detail }) }
  const t = opts.timeoutMs

  let health: { status: number, body: unknown }
  try {
    health = await getJson(`${opts.http}/health`, t)
  } catch (err) {
    add('relay admin API', 'fail', `nothing answers at ${opts.http} (${unreachable(err)}): is \`npm start\` running? Its ready line names the relay's "http" address; pass it with --http`)
    return checks
  }
  const h = health.body as { status?: unknown, components?: Record<string, { status?: string, detail?: string }> }
  const notOk = Object.entries(h?.components ?? {}).filter(([, c]) => c?.status !== 'ok').map(([k, c]) => `${k} ${String(c?.status)}${c?.detail != null ? ` (${c.detail})` : ''}`)
  add('relay admin API', h?.status === 'ok' ? 'ok' : h?.status === 'degraded' ? 'note' : 'fail',
    `${opts.http}/health says ${String(h?.status)} (HTTP ${health.status})${notOk.length > 0 ? `: ${notOk.join('; ').slice(0, 400)}` : ''}`)

  let addrs: string[] = []
  let peerId = ''
  try {
    const node = (await getJson(`${opts.http}/node`, t)).body as { peerId?: string, multiaddrs?: unknown }
    addrs = Array.isArray(node.multiaddrs) ? node.multiaddrs.filter((a): a is string => typeof a === 'string') : []
    peerId = typeof node.peerId === 'string' ? node.peerId : ''
  } catch (err) {
    add('relay addresses', 'fail', `GET ${opts.http}/node failed: ${unreachable(err)}`)
  }
  const wsAddr = addrs.find(a => /\/tcp\/\d+\/ws(\/|$)/.test(a) && !a.includes('/p2p-circuit'))
  const tcpAddr = addrs.find(a => /\/tcp\/\d+(\/p2p\/|$)/.test(a))
  if (addrs.length > 0) {
    add('relay addresses', wsAddr != null ? 'ok' : 'fail', wsAddr != null ? `${addrs.length} announced; browsers dial ${wsAddr}` : `none is a WebSocket address (/ws): browsers cannot join (announced: ${addrs.join(', ')})`)
    if (addrs.every(isLoopback)) add('reachable from elsewhere', 'note', 'the relay announces loopback addresses only: tabs and peers on other machines cannot join (start it with --host ADDR)')
  }
  for (const [name, addr, open] of [
    ['relay WebSocket (browsers)', wsAddr, async (h: string, p: number) => { await openWebSocket(`ws://${h.includes(':') ? `[${h}]` : h}:${p}`, t) }],
    ['relay TCP (Node peers)', tcpAddr, async (h: string, p: number) => { await openTcp(h, p, t) }]
  ] as const) {
    const hp = addr != null ? hostPortOf(addr) : undefined
    if (hp == null) continue
    try {
      await open(hp.host, hp.port)
      add(name, 'ok', `${hp.host}:${hp.port} opens`)
    } catch (err) {
      add(name, 'fail', `${hp.host}:${hp.port}: ${unreachable(err)} (a firewall, another network namespace, or the relay listening elsewhere)`)
    }
  }

  try {
    const nodes = (await getJson(`${opts.http}/nodes`, t)).body
    const list = Array.isArray(nodes) ? nodes as Array<{ status?: string }> : []
    const alive = list.filter(n => n.status === 'alive').length
    add('membership', alive > 0 ? 'ok' : 'note', alive > 0 ? `${alive} other peers alive, ${list.length - alive} suspect or failed` : 'the relay sees no other peer yet (open the demo page, or start a node)')
  } catch (err) {
    add('membership', 'fail', `GET ${opts.http}/nodes failed: ${unreachable(err)}`)
  }
  try {
    const c = (await getJson(`${opts.http}/consensus`, t)).body as { leader?: string | null, term?: number, voters?: unknown[] }
    add('Raft', c.leader != null ? 'ok' : 'fail', c.leader != null ? `leader ${c.leader.slice(-8)} at term ${String(c.term)}, ${c.voters?.length ?? 0} voters` : 'no leader: agent placement and the key-value store wait for one (a majority of voters must be up)')
  } catch (err) {
    add('Raft', 'fail', `GET ${opts.http}/consensus failed: ${unreachable(err)}`)
  }

  if (opts.demo != null) {
    try {
      const b = (await getJson(`${opts.demo}/bootstrap.json`, t)).body as { bootstrap?: unknown }
      const list = Array.isArray(b.bootstrap) ? b.bootstrap.filter((a): a is string => typeof a === 'string') : []
      const mine = list.some(a => peerId !== '' && a.endsWith(`/p2p/${peerId}`))
      add('demo page', mine ? 'ok' : 'fail', mine ? `${opts.demo}/ hands tabs the relay's address` : `${opts.demo}/bootstrap.json names ${list.length > 0 ? list.join(', ') : 'no relay'}, not this relay`)
    } catch (err) {
      add('demo page', 'fail', `${opts.demo}/bootstrap.json: ${unreachable(err)} (agentmesh start serves it; --demo none skips this check)`)
    }
  }
  const chromium = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
  add('browser tests', 'note', existsSync(chromium)
    ? `Chromium at ${chromium}; on a loopback-only network tabs link over WebRTC only with --allow-loopback-in-peer-connection and a camera/microphone grant`
    : `no Chromium at ${chromium} (only needed for npm run test:browser)`)
  return checks
}

export function formatChecks (checks: DoctorCheck[]): string {
  const label: Record<CheckStatus, string> = { ok: 'ok  ', fail: 'FAIL', note: 'note' }
  return checks.map(c => `${label[c.status]} ${c.name}: ${c.detail}`).join('\n') + '\n'
}
