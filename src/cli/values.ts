/**
 * Validators for flag values. Each takes the flag name and the raw string and returns the typed
 * value or throws InvalidArgumentError with a one-line message naming the flag.
 */
import { isIP } from 'node:net'
import { resolve } from 'node:path'
import { multiaddr } from '@multiformats/multiaddr'
import { peerIdFromString } from '@libp2p/peer-id'
import { InvalidArgumentError } from '../errors.ts'
import {
  MAX_BOOTSTRAP_ADDRS, MAX_DATA_PATH_CHARS, MAX_HOSTNAME_CHARS, MAX_MESH_CHARS,
  MAX_MULTIADDR_CHARS, MAX_PORT, MAX_QUOTED_VALUE_CHARS, MAX_TAG_CHARS, MAX_TAGS
} from './constants.ts'

/** `"value"` for an error line: JSON-quoted (so control characters stay visible), cut short */
export function quote (value: string): string {
  const cut = value.length > MAX_QUOTED_VALUE_CHARS ? value.slice(0, MAX_QUOTED_VALUE_CHARS) + '...' : value
  return JSON.stringify(cut)
}

function bad (flag: string, expected: string, value: string): never {
  throw new InvalidArgumentError(`--${flag} must be ${expected}, got ${quote(value)}`)
}

export function parseIntegerIn (flag: string, value: string, min: number, max: number): number {
  const n = /^\d{1,10}$/.test(value) ? Number(value) : NaN
  if (!Number.isSafeInteger(n) || n < min || n > max) bad(flag, `an integer ${min}-${max}`, value)
  return n
}

export function parsePort (flag: string, value: string): number {
  return parseIntegerIn(flag, value, 0, MAX_PORT)
}

/** a decimal number > 0 and <= max (`2`, `0.5`; no exponents, signs or hex) */
export function parsePositiveNumber (flag: string, value: string, max: number): number {
  const n = /^\d{1,12}(\.\d{1,12})?$/.test(value) ? Number(value) : NaN
  if (!Number.isFinite(n) || n <= 0 || n > max) bad(flag, `a number > 0 and <= ${max}`, value)
  return n
}

const HOSTNAME_LABEL = /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/

/** an IPv4 or IPv6 address, or a DNS name (RFC 1123 labels) */
export function isValidHost (value: string): boolean {
  if (isIP(value) !== 0) return true
  if (value.length === 0 || value.length > MAX_HOSTNAME_CHARS) return false
  const labels = value.endsWith('.') ? value.slice(0, -1).split('.') : value.split('.')
  if (!labels.every(l => HOSTNAME_LABEL.test(l))) return false
  // all-numeric dotted names would be read as (bad) IPv4 addresses by resolvers
  return !/^[\d.]+$/.test(value)
}

export function parseHost (flag: string, value: string): string {
  if (!isValidHost(value)) bad(flag, 'an IPv4/IPv6 address or a host name', value)
  return value
}

/** the multiaddr prefix that addresses `host`: `/ip4/1.2.3.4`, `/ip6/::1` or `/dns/name` */
export function hostMultiaddrPrefix (host: string): string {
  const family = isIP(host)
  if (family === 4) return `/ip4/${host}`
  if (family === 6) return `/ip6/${host}`
  if (!isValidHost(host)) throw new InvalidArgumentError(`not a host: ${quote(host)}`)
  return `/dns/${host.endsWith('.') ? host.slice(0, -1) : host}`
}

/** `http://host:port` with IPv6 hosts in brackets */
export function httpUrl (host: string, port: number): string {
  return `http://${isIP(host) === 6 ? `[${host}]` : host}:${port}`
}

const MESH_NAME = new RegExp(`^[A-Za-z0-9][A-Za-z0-9._-]{0,${MAX_MESH_CHARS - 1}}$`)

export function parseMesh (flag: string, value: string): string {
  if (!MESH_NAME.test(value)) bad(flag, `a name of 1-${MAX_MESH_CHARS} letters, digits, '.', '_' or '-'`, value)
  return value
}

const TAG = new RegExp(`^[A-Za-z0-9._:-]{1,${MAX_TAG_CHARS}}$`)

/** `a,b` -> ['a', 'b'] (deduplicated, order kept) */
export function parseTags (flag: string, value: string, into: string[] = []): string[] {
  for (const raw of value.split(',')) {
    const tag = raw.trim()
    if (!TAG.test(tag)) bad(flag, `a comma-separated list of tags (letters, digits, '.', '_', ':', '-'; up to ${MAX_TAG_CHARS} each)`, value)
    if (!into.includes(tag)) into.push(tag)
  }
  if (into.length > MAX_TAGS) throw new InvalidArgumentError(`--${flag} takes at most ${MAX_TAGS} tags, got ${into.length}`)
  return into
}

/**
 * `ADDR[,ADDR...]`, each a multiaddr; `/p2p/<peer id>` at the end is checked when present and may
 * be left out (`/dns4/relay/tcp/9090/ws`: containers can't know a relay's id in advance; the
 * Noise handshake authenticates whoever answers)
 */
export function parseBootstrap (flag: string, value: string, into: string[] = []): string[] {
  for (const raw of value.split(',')) {
    const addr = raw.trim()
    if (addr.length === 0 || addr.length > MAX_MULTIADDR_CHARS) bad(flag, 'a comma-separated list of multiaddrs', value)
    try {
      const components = multiaddr(addr).getComponents()
      const peer = components.find(c => c.name === 'p2p')?.value
      if (peer != null) peerIdFromString(peer)
    } catch {
      bad(flag, 'a comma-separated list of multiaddrs', addr)
    }
    if (!into.includes(addr)) into.push(addr)
  }
  if (into.length > MAX_BOOTSTRAP_ADDRS) {
    throw new InvalidArgumentError(`--${flag} takes at most ${MAX_BOOTSTRAP_ADDRS} addresses, got ${into.length}`)
  }
  return into
}

/** a directory path, made absolute against `cwd` so child processes agree on it */
export function parseDataDir (flag: string, value: string, cwd: string): string {
  // eslint-disable-next-line no-control-regex
  if (value.length === 0 || value.length > MAX_DATA_PATH_CHARS || /[\u0000]/.test(value)) {
    bad(flag, 'a directory path', value)
  }
  return resolve(cwd, value)
}
