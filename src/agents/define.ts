/** `defineAgent`: validates a kind's definition once, at load time, and freezes it. */
import { InvalidArgumentError } from '../errors.ts'
import {
  MAX_AGENT_ID_CHARS, MAX_KIND_NAME_CHARS, MAX_REQUIREMENT_CPU, MAX_REQUIREMENT_MEMORY_MB, MAX_TAG_CHARS, MAX_TAGS
} from './constants.ts'
import type { AgentDefinition, AgentKind, AgentRequirements } from './types.ts'

const KIND_NAME = /^[a-z0-9][a-z0-9._-]*$/
const TAG = /^[a-z0-9][a-z0-9._:-]*$/
/** printable ASCII without spaces; `/` allowed so agents can name their children (`job/w1`) */
const AGENT_ID = /^[\x21-\x7e]+$/

export function validateKindName (kind: unknown): string {
  if (typeof kind !== 'string' || kind.length === 0 || kind.length > MAX_KIND_NAME_CHARS || !KIND_NAME.test(kind)) {
    throw new InvalidArgumentError(`agent kind must match ${String(KIND_NAME)} and be at most ${MAX_KIND_NAME_CHARS} chars, got ${JSON.stringify(kind)}`)
  }
  return kind
}

export function validateAgentId (id: unknown): string {
  if (typeof id !== 'string' || id.length === 0 || id.length > MAX_AGENT_ID_CHARS || !AGENT_ID.test(id)) {
    throw new InvalidArgumentError(`agent id must be 1-${MAX_AGENT_ID_CHARS} printable ASCII chars without spaces, got ${JSON.stringify(id)}`)
  }
  return id
}

export function validateTags (tags: unknown, what: string): string[] {
  if (tags == null) return []
  if (!Array.isArray(tags) || tags.length > MAX_TAGS) throw new InvalidArgumentError(`${what}: tags must be an array of at most ${MAX_TAGS}`)
  for (const t of tags) {
    if (typeof t !== 'string' || t.length > MAX_TAG_CHARS || !TAG.test(t)) throw new InvalidArgumentError(`${what}: bad tag ${JSON.stringify(t)}`)
  }
  return [...new Set(tags as string[])].sort()
}

export function validateRequirements (r: unknown, what = 'requirements'): Readonly<AgentRequirements> & { readonly tags: readonly string[] } {
  if (r == null || typeof r !== 'object') throw new InvalidArgumentError(`${what} must be { cpu, memoryMb, tags? }`)
  const { cpu, memoryMb, tags } = r as AgentRequirements
  if (typeof cpu !== 'number' || !Number.isFinite(cpu) || cpu <= 0 || cpu > MAX_REQUIREMENT_CPU) {
    throw new InvalidArgumentError(`${what}.cpu must be in (0, ${MAX_REQUIREMENT_CPU}], got ${String(cpu)}`)
  }
  if (typeof memoryMb !== 'number' || !Number.isFinite(memoryMb) || memoryMb <= 0 || memoryMb > MAX_REQUIREMENT_MEMORY_MB) {
    throw new InvalidArgumentError(`${what}.memoryMb must be in (0, ${MAX_REQUIREMENT_MEMORY_MB}], got ${String(memoryMb)}`)
  }
  return Object.freeze({ cpu, memoryMb, tags: Object.freeze(validateTags(tags, what)) })
}

function optionalHook (def: Record<string, unknown>, name: string): void {
  if (def[name] != null && typeof def[name] !== 'function') throw new InvalidArgumentError(`agent ${String(def.kind)}: ${name} must be a function`)
}

/**
 * Declares an agent kind. Every peer that can host the kind bundles the same definition (a
 * migration moves state and identity, not code). Throws InvalidArgumentError on a bad definition.
 */
export function defineAgent (definition: AgentDefinition): AgentKind {
  if (definition == null || typeof definition !== 'object') throw new InvalidArgumentError('defineAgent needs a definition object')
  const def = definition as unknown as Record<string, unknown>
  const kind = validateKindName(def.kind)
  const requirements = validateRequirements(def.requirements, `agent ${kind}: requirements`)
  if (typeof def.onMessage !== 'function') throw new InvalidArgumentError(`agent ${kind}: onMessage must be a function`)
  for (const hook of ['init', 'onStart', 'onStop']) optionalHook(def, hook)
  const out: AgentKind = { kind, requirements, onMessage: definition.onMessage }
  if (definition.init != null) (out as AgentDefinition).init = definition.init
  if (definition.onStart != null) (out as AgentDefinition).onStart = definition.onStart
  if (definition.onStop != null) (out as AgentDefinition).onStop = definition.onStop
  return Object.freeze(out)
}

/** a registry of the kinds one peer can host, by name */
export class KindRegistry {
  private readonly kinds = new Map<string, AgentKind>()

  constructor (kinds: Iterable<AgentKind> = []) {
    for (const k of kinds) this.add(k)
  }

  add (kind: AgentKind): void {
    if (!Object.isFrozen(kind)) throw new InvalidArgumentError('register kinds made by defineAgent')
    const existing = this.kinds.get(kind.kind)
    if (existing != null && existing !== kind) throw new InvalidArgumentError(`agent kind ${kind.kind} is registered twice with different definitions`)
    this.kinds.set(kind.kind, kind)
  }

  get (name: string): AgentKind | undefined {
    return this.kinds.get(name)
  }

  has (name: string): boolean {
    return this.kinds.has(name)
  }

  /** the names, sorted: what a peer advertises in `record.ext.kinds` */
  names (): string[] {
    return [...this.kinds.keys()].sort()
  }
}
