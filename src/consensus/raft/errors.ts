/** Failure modes of the Raft core that callers tell apart by `.name`. */
import { AgentMeshError } from '../../errors.ts'

/**
 * a proposal (or read) was not accepted: no known leader, a leader transfer in progress, this
 * node was removed, or the uncommitted-entries budget is full. The caller may retry later.
 */
export class ProposalDroppedError extends AgentMeshError {
  static override readonly status: number = 503
  constructor (message = 'raft proposal dropped') {
    super(message)
    this.name = 'ProposalDroppedError'
  }
}
