/**
 * Per-node capacity accounting: what the hosted agents have reserved against what the node offers.
 * Amounts are kept in thousandths (integers), so a hundred 0.1-cpu agents add up to exactly 10.
 * The node publishes `load()` in its record; placement reads it back from there.
 */
import { CapacityError, ConflictError, InvalidArgumentError, NotFoundError } from '../errors.ts'
import { DEFAULT_MAX_AGENTS_PER_NODE } from './constants.ts'

export interface NodeCapacity {
  cpu: number
  memoryMb: number
  /** agents the node hosts at most (default DEFAULT_MAX_AGENTS_PER_NODE) */
  maxAgents?: number
}

export interface ResourceAmount {
  cpu: number
  memoryMb: number
}

export interface ResourceUse extends ResourceAmount {
  agents: number
}

export interface Reservation extends ResourceAmount {
  agentId: string
  kind?: string
}

export interface LedgerJSON {
  capacity: Required<NodeCapacity>
  used: ResourceUse
  available: ResourceUse
  reservations: Reservation[]
}

const milli = (x: number): number => Math.round(x * 1000)
const unmilli = (x: number): number => x / 1000

function validCapacity (c: NodeCapacity): Required<NodeCapacity> {
  const maxAgents = c.maxAgents ?? DEFAULT_MAX_AGENTS_PER_NODE
  if (!(Number.isFinite(c.cpu) && c.cpu >= 0 && Number.isFinite(c.memoryMb) && c.memoryMb >= 0 && Number.isSafeInteger(maxAgents) && maxAgents >= 0)) {
    throw new InvalidArgumentError('node capacity needs cpu >= 0, memoryMb >= 0 and an integer maxAgents >= 0')
  }
  return { cpu: c.cpu, memoryMb: c.memoryMb, maxAgents }
}

function validAmount (r: ResourceAmount): void {
  if (!(Number.isFinite(r.cpu) && r.cpu >= 0 && Number.isFinite(r.memoryMb) && r.memoryMb >= 0)) {
    throw new InvalidArgumentError('a reservation needs finite cpu >= 0 and memoryMb >= 0')
  }
}

/**
 * Why `req` does not fit a node with `capacity` that already uses `used`, as short reasons
 * (empty when it fits). Shared by the ledger and the placement scorer so both say the same.
 */
export function fitProblems (capacity: Required<NodeCapacity>, used: ResourceUse, req: ResourceAmount): string[] {
  const problems: string[] = []
  const freeCpu = milli(capacity.cpu) - milli(used.cpu)
  const freeMem = milli(capacity.memoryMb) - milli(used.memoryMb)
  if (milli(req.cpu) > freeCpu) problems.push(`cpu: needs ${req.cpu}, free ${unmilli(Math.max(0, freeCpu))} of ${capacity.cpu}`)
  if (milli(req.memoryMb) > freeMem) problems.push(`memory: needs ${req.memoryMb} MB, free ${unmilli(Math.max(0, freeMem))} of ${capacity.memoryMb} MB`)
  if (used.agents + 1 > capacity.maxAgents) problems.push(`agents: ${used.agents} of ${capacity.maxAgents} hosted`)
  return problems
}

export class ResourceLedger {
  private cap: Required<NodeCapacity>
  private readonly reservations = new Map<string, { kind?: string, cpu: number, memoryMb: number }>()
  private usedCpu = 0
  private usedMem = 0

  constructor (capacity: NodeCapacity) {
    this.cap = validCapacity(capacity)
  }

  get capacity (): Required<NodeCapacity> {
    return { ...this.cap }
  }

  /** changes what the node offers (e.g. a tab went hidden); existing reservations stay */
  setCapacity (capacity: NodeCapacity): void {
    this.cap = validCapacity(capacity)
  }

  used (): ResourceUse {
    return { cpu: unmilli(this.usedCpu), memoryMb: unmilli(this.usedMem), agents: this.reservations.size }
  }

  available (): ResourceUse {
    return {
      cpu: Math.max(0, unmilli(milli(this.cap.cpu) - this.usedCpu)),
      memoryMb: Math.max(0, unmilli(milli(this.cap.memoryMb) - this.usedMem)),
      agents: Math.max(0, this.cap.maxAgents - this.reservations.size)
    }
  }

  /** why `req` would not fit now (empty when it fits) */
  problems (req: ResourceAmount): string[] {
    validAmount(req)
    return fitProblems(this.cap, this.used(), req)
  }

  fits (req: ResourceAmount): boolean {
    return this.problems(req).length === 0
  }

  has (agentId: string): boolean {
    return this.reservations.has(agentId)
  }

  /**
   * Reserves resources for an agent. Reserving again the same amounts for the same agent is a
   * no-op; different amounts are a ConflictError. CapacityError (saying why) when it does not fit.
   */
  reserve (agentId: string, req: ResourceAmount & { kind?: string }): Reservation {
    validAmount(req)
    const existing = this.reservations.get(agentId)
    if (existing != null) {
      if (existing.cpu === milli(req.cpu) && existing.memoryMb === milli(req.memoryMb)) return this.describe(agentId)
      throw new ConflictError(`agent ${agentId} already holds a different reservation`)
    }
    const problems = fitProblems(this.cap, this.used(), req)
    if (problems.length > 0) {
      throw new CapacityError(`no room for agent ${agentId}: ${problems.join('; ')}`, { details: { agentId, problems } })
    }
    const r: { kind?: string, cpu: number, memoryMb: number } = { cpu: milli(req.cpu), memoryMb: milli(req.memoryMb) }
    if (req.kind != null) r.kind = req.kind
    this.reservations.set(agentId, r)
    this.usedCpu += r.cpu
    this.usedMem += r.memoryMb
    return this.describe(agentId)
  }

  /** frees an agent's reservation; false if it had none */
  release (agentId: string): boolean {
    const r = this.reservations.get(agentId)
    if (r == null) return false
    this.reservations.delete(agentId)
    this.usedCpu -= r.cpu
    this.usedMem -= r.memoryMb
    return true
  }

  get (agentId: string): Reservation {
    if (!this.reservations.has(agentId)) throw new NotFoundError(`agent ${agentId} holds no reservation`)
    return this.describe(agentId)
  }

  /** the reserved part of the node record's `load` */
  load (): ResourceUse {
    return this.used()
  }

  toJSON (): LedgerJSON {
    return {
      capacity: this.capacity,
      used: this.used(),
      available: this.available(),
      reservations: [...this.reservations.keys()].sort().map(id => this.describe(id))
    }
  }

  private describe (agentId: string): Reservation {
    const r = this.reservations.get(agentId)!
    const out: Reservation = { agentId, cpu: unmilli(r.cpu), memoryMb: unmilli(r.memoryMb) }
    if (r.kind != null) out.kind = r.kind
    return out
  }
}
