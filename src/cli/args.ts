/**
 * The command line of docs/API.md section 2, parsed strictly into a typed `CliCommand`.
 *
 * Not `node:util` parseArgs: on Node 20 it has no `--no-<flag>` negation (allowNegative is 22.4+),
 * and its errors carry no flag name and span several sentences; ours are one line naming the flag.
 * Rules: `--flag value` or `--flag=value`; every flag at most once, except the list flags
 * (`--bootstrap`, `--tags`), whose values add up; `--help`/`-h` anywhere wins; no positionals.
 */
import { InvalidArgumentError } from '../errors.ts'
import {
  DEFAULT_HOST, DEFAULT_HTTP_HOST, DEFAULT_MESH, DEFAULT_NODE_HTTP_PORT, DEFAULT_NODE_PORT,
  DEFAULT_RELAY_HTTP_PORT, DEFAULT_RELAY_PORT, DEFAULT_START_DEMO_PORT, DEFAULT_START_NODES,
  DEFAULT_START_PORT, MAX_CPU, MAX_FLAG_VALUE_CHARS, MAX_MEMORY_MB, MAX_START_NODES
} from './constants.ts'
import {
  parseBootstrap, parseDataDir, parseHost, parseIntegerIn, parseMesh, parsePort,
  parsePositiveNumber, parseTags, quote
} from './values.ts'

export type CommandName = 'relay' | 'node' | 'start' | 'keygen' | 'credential'
export const COMMAND_NAMES: readonly CommandName[] = ['relay', 'node', 'start', 'keygen', 'credential']

/** what every long-running peer process (relay or node) is told */
export interface PeerProcessOptions {
  /** address the peer listens on and announces */
  host: string
  /** libp2p listen port (0: a free one) */
  port: number
  /** address of the HTTP admin API */
  httpHost: string
  /** HTTP admin API port (0: a free one) */
  httpPort: number
  /** absolute directory for identity, Raft log and agent state; absent: in memory */
  data?: string
  mesh: string
  /** the mesh admin public key, as base64 text or a file holding it: credentials are required */
  meshKey?: string
  /** this peer's credential, as text or a file holding it */
  credential?: string
}

export interface RelayCommand extends PeerProcessOptions {
  command: 'relay'
  /** the mesh admin private key (file or text): the relay issues credentials at POST /credentials */
  adminKey?: string
}

/** makes a mesh admin key pair */
export interface KeygenCommand {
  command: 'keygen'
  /** file for the private key (mode 0600); absent: printed */
  out?: string
}

/** signs a credential offline with the admin private key */
export interface CredentialCommand {
  command: 'credential'
  adminKey: string
  peer: string
  roles: string[]
  ttlHours: number
  mesh: string
}

export interface NodeCommand extends PeerProcessOptions {
  command: 'node'
  /** multiaddrs ending in /p2p/<peer id>; at least one */
  bootstrap: string[]
  /** candidate for the Raft voter group (default true: Node peers are voter candidates) */
  voter: boolean
  /** advertised CPU capacity; absent: the integrator's default (e.g. os.availableParallelism()) */
  cpu?: number
  /** advertised memory in MiB; absent: the integrator's default */
  memoryMb?: number
  tags: string[]
}

export interface StartCommand {
  command: 'start'
  /** Node peers besides the relay */
  nodes: number
  /** the relay's libp2p port */
  port: number
  /** where the demo page is served */
  demoPort: number
  host: string
  mesh: string
  /** absent: every process keeps its state in memory; else one subdirectory per process */
  data?: string
}

export interface HelpCommand {
  command: 'help'
  /** usage of one command; absent: the overview */
  topic?: CommandName
}

export interface VersionCommand {
  command: 'version'
}

export type CliCommand = RelayCommand | NodeCommand | StartCommand | KeygenCommand | CredentialCommand | HelpCommand | VersionCommand

export interface ParseCliOptions {
  /** relative `--data` paths are resolved against this (default process.cwd()) */
  cwd?: string
}

type FlagKind = 'value' | 'list' | 'switch'
type FlagTable = Record<string, FlagKind>

const PEER_FLAGS: FlagTable = { host: 'value', port: 'value', 'http-host': 'value', 'http-port': 'value', data: 'value', mesh: 'value', 'mesh-key': 'value', credential: 'value' }

export const COMMAND_FLAGS: Record<CommandName, FlagTable> = {
  relay: { ...PEER_FLAGS, 'admin-key': 'value' },
  node: { ...PEER_FLAGS, bootstrap: 'list', voter: 'switch', cpu: 'value', 'memory-mb': 'value', tags: 'list' },
  start: { nodes: 'value', port: 'value', 'demo-port': 'value', host: 'value', mesh: 'value', data: 'value' },
  keygen: { out: 'value' },
  credential: { 'admin-key': 'value', peer: 'value', roles: 'list', 'ttl-hours': 'value', mesh: 'value' }
}

const HELP_FLAGS = new Set(['--help', '-h'])
const VERSION_FLAGS = new Set(['--version', '-V'])

function isCommandName (s: string): s is CommandName {
  return (COMMAND_NAMES as readonly string[]).includes(s)
}

/** parses `argv` (without the node and script paths); throws InvalidArgumentError */
export function parseCliArgs (argv: readonly string[], options: ParseCliOptions = {}): CliCommand {
  const cwd = options.cwd ?? process.cwd()
  const [first, ...rest] = argv
  if (first === undefined) {
    throw new InvalidArgumentError('missing command: expected relay, node or start (see agentmesh --help)')
  }
  if (first === 'help') {
    if (rest.length === 0) return { command: 'help' }
    if (rest.length === 1 && isCommandName(rest[0])) return { command: 'help', topic: rest[0] }
    throw new InvalidArgumentError(`unknown help topic ${quote(rest.join(' '))}: expected relay, node or start`)
  }
  if (!isCommandName(first)) {
    if (argv.some(a => HELP_FLAGS.has(a))) return { command: 'help' }
    if (argv.some(a => VERSION_FLAGS.has(a))) return { command: 'version' }
    if (first.startsWith('-')) {
      throw new InvalidArgumentError(`unknown flag ${flagOf(first)}: expected a command first (relay, node or start)`)
    }
    throw new InvalidArgumentError(`unknown command ${quote(first)}: expected relay, node or start`)
  }
  if (rest.some(a => HELP_FLAGS.has(a))) return { command: 'help', topic: first }
  if (rest.some(a => VERSION_FLAGS.has(a))) return { command: 'version' }

  const flags = readFlags(first, rest)
  switch (first) {
    case 'relay': {
      const adminKey = str(flags, 'admin-key')
      return { command: 'relay', ...peerOptions(flags, DEFAULT_RELAY_PORT, DEFAULT_RELAY_HTTP_PORT, cwd), ...(adminKey !== undefined ? { adminKey } : {}) }
    }
    case 'keygen': {
      const out = optional(flags, 'out', (f, v) => parseDataDir(f, v, cwd))
      return { command: 'keygen', ...(out !== undefined ? { out } : {}) }
    }
    case 'credential': return credentialCommand(flags)
    case 'node': return nodeCommand(flags, cwd)
    case 'start': return startCommand(flags, cwd)
  }
}

/** the flags given, by name: a string for value flags, string[] for lists, boolean for switches */
type FlagValues = Map<string, string | string[] | boolean>

function flagOf (token: string): string {
  const eq = token.indexOf('=')
  return eq === -1 ? token : token.slice(0, eq)
}

function readFlags (command: CommandName, tokens: readonly string[]): FlagValues {
  const table = COMMAND_FLAGS[command]
  const out: FlagValues = new Map()
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i]
    if (!token.startsWith('--') || token === '--') {
      if (token.startsWith('-') && token !== '-' && token !== '--') {
        throw new InvalidArgumentError(`unknown flag ${flagOf(token)}`)
      }
      throw new InvalidArgumentError(`unexpected argument ${quote(token)} (agentmesh ${command} takes only --flags)`)
    }
    const eq = token.indexOf('=')
    const rawName = eq === -1 ? token.slice(2) : token.slice(2, eq)
    const inline = eq === -1 ? undefined : token.slice(eq + 1)

    const negated = rawName.startsWith('no-') && table[rawName.slice(3)] === 'switch'
    const name = negated ? rawName.slice(3) : rawName
    const kind = Object.hasOwn(table, name) ? table[name] : undefined
    if (kind === undefined) {
      const hint = closestFlag(name, Object.keys(table))
      throw new InvalidArgumentError(`unknown flag --${rawName} for agentmesh ${command}${hint != null ? ` (did you mean --${hint}?)` : ''}`)
    }
    if (kind === 'switch') {
      if (inline !== undefined) throw new InvalidArgumentError(`--${rawName} takes no value`)
      if (out.has(name)) throw new InvalidArgumentError(`--${name} given more than once`)
      out.set(name, !negated)
      continue
    }
    let value = inline
    if (value === undefined) {
      const next = tokens[i + 1]
      if (next === undefined || next.startsWith('--')) throw new InvalidArgumentError(`--${name} needs a value`)
      value = next
      i++
    }
    if (value.length > MAX_FLAG_VALUE_CHARS) {
      throw new InvalidArgumentError(`--${name} value is too long (${value.length} characters, limit ${MAX_FLAG_VALUE_CHARS})`)
    }
    if (kind === 'list') {
      const prev = out.get(name)
      out.set(name, Array.isArray(prev) ? [...prev, value] : [value])
    } else {
      if (out.has(name)) throw new InvalidArgumentError(`--${name} given more than once`)
      out.set(name, value)
    }
  }
  return out
}

function str (flags: FlagValues, name: string): string | undefined {
  const v = flags.get(name)
  return typeof v === 'string' ? v : undefined
}

function list (flags: FlagValues, name: string): string[] {
  const v = flags.get(name)
  return Array.isArray(v) ? v : []
}

function optional<T> (flags: FlagValues, name: string, parse: (flag: string, value: string) => T): T | undefined {
  const v = str(flags, name)
  return v === undefined ? undefined : parse(name, v)
}

function peerOptions (flags: FlagValues, defaultPort: number, defaultHttpPort: number, cwd: string): PeerProcessOptions {
  const out: PeerProcessOptions = {
    host: optional(flags, 'host', parseHost) ?? DEFAULT_HOST,
    port: optional(flags, 'port', parsePort) ?? defaultPort,
    httpHost: optional(flags, 'http-host', parseHost) ?? DEFAULT_HTTP_HOST,
    httpPort: optional(flags, 'http-port', parsePort) ?? defaultHttpPort,
    mesh: optional(flags, 'mesh', parseMesh) ?? DEFAULT_MESH
  }
  const data = optional(flags, 'data', (f, v) => parseDataDir(f, v, cwd))
  if (data !== undefined) out.data = data
  const meshKey = str(flags, 'mesh-key')
  if (meshKey !== undefined) out.meshKey = meshKey
  const credential = str(flags, 'credential')
  if (credential !== undefined) out.credential = credential
  return out
}

const CREDENTIAL_ROLES = ['voter', 'host', 'publisher']

function credentialCommand (flags: FlagValues): CredentialCommand {
  const adminKey = str(flags, 'admin-key')
  if (adminKey === undefined) throw new InvalidArgumentError('--admin-key is required for agentmesh credential (the file from agentmesh keygen)')
  const peer = str(flags, 'peer')
  if (peer === undefined) throw new InvalidArgumentError('--peer is required for agentmesh credential (the peer id to credential)')
  const roles: string[] = []
  for (const v of list(flags, 'roles')) parseTags('roles', v, roles)
  for (const r of roles) if (!CREDENTIAL_ROLES.includes(r)) throw new InvalidArgumentError(`--roles must be among ${CREDENTIAL_ROLES.join(', ')}, got ${quote(r)}`)
  return {
    command: 'credential',
    adminKey,
    peer,
    roles: roles.length > 0 ? roles : CREDENTIAL_ROLES,
    ttlHours: optional(flags, 'ttl-hours', (f, v) => parsePositiveNumber(f, v, 24 * 366)) ?? 24 * 30,
    mesh: optional(flags, 'mesh', parseMesh) ?? DEFAULT_MESH
  }
}

function nodeCommand (flags: FlagValues, cwd: string): NodeCommand {
  const common = peerOptions(flags, DEFAULT_NODE_PORT, DEFAULT_NODE_HTTP_PORT, cwd)
  const bootstrapValues = list(flags, 'bootstrap')
  if (bootstrapValues.length === 0) throw new InvalidArgumentError('--bootstrap is required for agentmesh node (a relay multiaddr)')
  const bootstrap: string[] = []
  for (const v of bootstrapValues) parseBootstrap('bootstrap', v, bootstrap)
  const tags: string[] = []
  for (const v of list(flags, 'tags')) parseTags('tags', v, tags)
  const cmd: NodeCommand = { command: 'node', ...common, bootstrap, voter: flags.get('voter') !== false, tags }
  const cpu = optional(flags, 'cpu', (f, v) => parsePositiveNumber(f, v, MAX_CPU))
  if (cpu !== undefined) cmd.cpu = cpu
  const memoryMb = optional(flags, 'memory-mb', (f, v) => parsePositiveNumber(f, v, MAX_MEMORY_MB))
  if (memoryMb !== undefined) cmd.memoryMb = memoryMb
  return cmd
}

function startCommand (flags: FlagValues, cwd: string): StartCommand {
  const cmd: StartCommand = {
    command: 'start',
    nodes: optional(flags, 'nodes', (f, v) => parseIntegerIn(f, v, 0, MAX_START_NODES)) ?? DEFAULT_START_NODES,
    port: optional(flags, 'port', parsePort) ?? DEFAULT_START_PORT,
    demoPort: optional(flags, 'demo-port', parsePort) ?? DEFAULT_START_DEMO_PORT,
    host: optional(flags, 'host', parseHost) ?? DEFAULT_HOST,
    mesh: optional(flags, 'mesh', parseMesh) ?? DEFAULT_MESH
  }
  const data = optional(flags, 'data', (f, v) => parseDataDir(f, v, cwd))
  if (data !== undefined) cmd.data = data
  return cmd
}

/** the known flag within edit distance 2 of `name`, for a "did you mean" hint */
function closestFlag (name: string, known: string[]): string | undefined {
  let best: string | undefined
  let bestDistance = 3
  for (const k of known) {
    const d = editDistance(name, k)
    if (d < bestDistance) { best = k; bestDistance = d }
  }
  return best
}

function editDistance (a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 2 || a.length > 64) return 3
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    const cur = [i]
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1))
    }
    prev = cur
  }
  return prev[b.length]
}
