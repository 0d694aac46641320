/**
 * The mesh snapshot: a compact, versioned, JSON-able summary of one peer (health, key metrics,
 * active alerts, plus extension fields other components provide: agents, links, raft, ...),
 * published periodically on the monitoring topic so any dashboard shows the whole mesh.
 * Wire form: UTF-8 JSON, at most MAX_SNAPSHOT_BYTES; major version in `v`, unknown fields ignored.
 */
import { InvalidMessageError, MessageTooLargeError, UnsupportedVersionError } from '../errors.ts'
import {
  MAX_ALERT_MESSAGE_CHARS, MAX_PEER_ID_CHARS, MAX_SNAPSHOT_ALERTS, MAX_SNAPSHOT_BYTES, MAX_SNAPSHOT_COMPONENTS,
  MAX_SNAPSHOT_EXTENSIONS, MAX_SNAPSHOT_METRICS, MAX_SNAPSHOT_STRING_CHARS, SNAPSHOT_VERSION
} from './constants.ts'
import type { HealthStatus } from './types.ts'

export interface SnapshotAlert {
  name: string
  severity: 'info' | 'warning' | 'critical'
  message: string
  labels: Record<string, string>
  /** ms since the epoch */
  firedAt: number
  value?: number
}

export interface MeshSnapshot {
  /** wire format major version */
  v: typeof SNAPSHOT_VERSION
  peerId: string
  /** ms since the epoch, on the sender's clock */
  time: number
  /** per-sender sequence number, increasing */
  seq: number
  health: { status: HealthStatus, components: Record<string, HealthStatus> }
  /** key metric values; histograms appear as `<name>:count` and `<name>:p99` */
  metrics: Record<string, number>
  alerts: SnapshotAlert[]
  /** filled by registered snapshot providers, by name ('agents', 'links', 'raft', ...) */
  ext: Record<string, unknown>
}

export interface SnapshotCodecOptions {
  maxBytes?: number
}

const STATUSES = new Set<string>(['ok', 'degraded', 'down'])
const SEVERITIES = new Set<string>(['info', 'warning', 'critical'])
const KEY = /^[a-zA-Z0-9_.:/-]{1,256}$/
/** keys that would reach an object's prototype */
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype'])
const encoder = new TextEncoder()

function fail (message: string): never {
  throw new InvalidMessageError(`invalid mesh snapshot: ${message}`)
}

function isRecord (v: unknown): v is Record<string, unknown> {
  return v != null && typeof v === 'object' && !Array.isArray(v)
}

function str (v: unknown, what: string, max = MAX_SNAPSHOT_STRING_CHARS): string {
  if (typeof v !== 'string' || v.length > max) fail(`${what} must be a string of at most ${max} chars`)
  return v
}

function num (v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) fail(`${what} must be a finite number`)
  return v
}

function entries (v: unknown, what: string, max: number): Array<[string, unknown]> {
  if (!isRecord(v)) fail(`${what} must be an object`)
  const list = Object.entries(v)
  if (list.length > max) fail(`${what} has more than ${max} entries`)
  for (const [k] of list) if (!KEY.test(k) || FORBIDDEN_KEYS.has(k)) fail(`${what} has an invalid key ${JSON.stringify(k.slice(0, 40))}`)
  return list
}

function validateAlert (v: unknown, i: number): SnapshotAlert {
  if (!isRecord(v)) fail(`alerts[${i}] must be an object`)
  if (!SEVERITIES.has(v.severity as string)) fail(`alerts[${i}].severity is invalid`)
  const labels: Record<string, string> = {}
  for (const [k, l] of entries(v.labels ?? {}, `alerts[${i}].labels`, MAX_ALERT_LABELS)) labels[k] = str(l, `alerts[${i}].labels.${k}`)
  const alert: SnapshotAlert = {
    name: str(v.name, `alerts[${i}].name`, 128),
    severity: v.severity as SnapshotAlert['severity'],
    message: str(v.message, `alerts[${i}].message`, MAX_ALERT_MESSAGE_CHARS),
    labels,
    firedAt: num(v.firedAt, `alerts[${i}].firedAt`)
  }
  if (v.value !== undefined) alert.value = num(v.value, `alerts[${i}].value`)
  return alert
}

const MAX_ALERT_LABELS = 32

/** an alert as it goes into a snapshot: labels the wire format cannot carry are left out, long text cut */
export function toSnapshotAlert (a: SnapshotAlert): SnapshotAlert {
  const labels: Record<string, string> = {}
  let n = 0
  for (const [k, v] of Object.entries(a.labels)) {
    if (n >= MAX_ALERT_LABELS || !KEY.test(k) || FORBIDDEN_KEYS.has(k)) continue
    labels[k] = String(v).slice(0, MAX_SNAPSHOT_STRING_CHARS)
    n++
  }
  return {
    name: a.name.slice(0, 128),
    severity: a.severity,
    message: a.message.slice(0, MAX_ALERT_MESSAGE_CHARS),
    labels,
    firedAt: a.firedAt,
    ...(typeof a.value === 'number' && Number.isFinite(a.value) ? { value: a.value } : {})
  }
}

/** true for a name usable as a key in a snapshot (metrics, components, extensions) */
export function isSnapshotKey (k: string): boolean {
  return KEY.test(k) && !FORBIDDEN_KEYS.has(k)
}

/** checks a decoded value is a MeshSnapshot and returns it with only the known fields */
export function validateSnapshot (v: unknown): MeshSnapshot {
  if (!isRecord(v)) fail('not an object')
  if (typeof v.v !== 'number' || !Number.isInteger(v.v)) fail('missing version')
  if (v.v !== SNAPSHOT_VERSION) throw new UnsupportedVersionError(`mesh snapshot version ${v.v} is not supported (this peer speaks ${SNAPSHOT_VERSION})`)
  const peerId = str(v.peerId, 'peerId', MAX_PEER_ID_CHARS)
  if (peerId.length === 0) fail('peerId is empty')
  const seq = num(v.seq, 'seq')
  if (!Number.isInteger(seq) || seq < 0) fail('seq must be a non-negative integer')
  if (!isRecord(v.health)) fail('health must be an object')
  if (!STATUSES.has(v.health.status as string)) fail('health.status is invalid')
  const components: Record<string, HealthStatus> = {}
  for (const [k, s] of entries(v.health.components, 'health.components', MAX_SNAPSHOT_COMPONENTS)) {
    if (!STATUSES.has(s as string)) fail(`health.components.${k} is invalid`)
    components[k] = s as HealthStatus
  }
  const metrics: Record<string, number> = {}
  for (const [k, m] of entries(v.metrics, 'metrics', MAX_SNAPSHOT_METRICS)) metrics[k] = num(m, `metrics.${k}`)
  if (!Array.isArray(v.alerts) || v.alerts.length > MAX_SNAPSHOT_ALERTS) fail(`alerts must be an array of at most ${MAX_SNAPSHOT_ALERTS}`)
  const ext: Record<string, unknown> = {}
  for (const [k, e] of entries(v.ext ?? {}, 'ext', MAX_SNAPSHOT_EXTENSIONS)) ext[k] = e
  return {
    v: SNAPSHOT_VERSION,
    peerId,
    time: num(v.time, 'time'),
    seq,
    health: { status: v.health.status as HealthStatus, components },
    metrics,
    alerts: v.alerts.map(validateAlert),
    ext
  }
}

/** validates and encodes a snapshot; MessageTooLargeError when it exceeds the limit */
export function encodeSnapshot (snapshot: MeshSnapshot, options: SnapshotCodecOptions = {}): Uint8Array {
  const max = options.maxBytes ?? MAX_SNAPSHOT_BYTES
  const bytes = encoder.encode(JSON.stringify(validateSnapshot(snapshot)))
  if (bytes.byteLength > max) throw new MessageTooLargeError(`mesh snapshot is ${bytes.byteLength} bytes, limit ${max}`, { details: { bytes: bytes.byteLength, max } })
  return bytes
}

/**
 * Decodes bytes from the wire: MessageTooLargeError over the limit, InvalidMessageError for bad
 * UTF-8, JSON or shape, UnsupportedVersionError for another major version.
 */
export function decodeSnapshot (bytes: Uint8Array, options: SnapshotCodecOptions = {}): MeshSnapshot {
  const max = options.maxBytes ?? MAX_SNAPSHOT_BYTES
  if (!(bytes instanceof Uint8Array)) throw new InvalidMessageError('mesh snapshot must be bytes')
  if (bytes.byteLength > max) throw new MessageTooLargeError(`mesh snapshot is ${bytes.byteLength} bytes, limit ${max}`, { details: { bytes: bytes.byteLength, max } })
  let value: unknown
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes))
  } catch (err) {
    throw new InvalidMessageError('mesh snapshot is not UTF-8 JSON', { cause: err })
  }
  return validateSnapshot(value)
}
