/** Errors specific to the agents layer (the shared ones live in src/errors.ts). */
import { AgentMeshError } from '../errors.ts'
import type { AgentMeshErrorOptions } from '../errors.ts'

/** a message failed its handler too many times and was set aside; its caller gets this */
export class PoisonMessageError extends AgentMeshError {
  static override readonly status: number = 422
  constructor (message: string, options?: AgentMeshErrorOptions) {
    super(message, options)
    this.name = 'PoisonMessageError'
  }
}

/**
 * An LLM server answered with an error status. `serverStatus` and `serverMessage` are what the
 * server said; the error's own `status` (for the admin API) is 502, the server being upstream.
 */
export class LlmResponseError extends AgentMeshError {
  static override readonly status: number = 502
  readonly serverStatus: number
  readonly serverMessage: string
  constructor (serverStatus: number, serverMessage: string, options?: AgentMeshErrorOptions) {
    super(`LLM server answered ${serverStatus}: ${serverMessage}`, options)
    this.name = 'LlmResponseError'
    this.serverStatus = serverStatus
    this.serverMessage = serverMessage
  }

  /** 429 and 5xx are worth another try; other 4xx are not */
  get retryable (): boolean {
    return this.serverStatus === 429 || this.serverStatus >= 500
  }
}
