/**
 * An OpenAI-compatible chat-completions client (`POST {baseUrl}/chat/completions`), so agents work
 * with any local or hosted server that speaks the protocol. Non-streaming and SSE streaming;
 * one deadline per call (retries included) through AbortSignal; retries with jittered backoff on
 * 429, 5xx and network errors (Retry-After honoured), never on other 4xx. Config from options,
 * then AGENTMESH_LLM_URL / AGENTMESH_LLM_MODEL / AGENTMESH_LLM_KEY.
 */
import { AgentMeshError, InvalidArgumentError, MessageTooLargeError, UnreachableError } from '../errors.ts'
import { backoffDelayMs, retryPolicy, sleep } from '../messaging/index.ts'
import type { RetryPolicy } from '../messaging/index.ts'
import { abortReason } from '../util/abort.ts'
import { systemClock } from '../util/clock.ts'
import type { Clock } from '../util/clock.ts'
import { componentLogger } from '../util/logger.ts'
import type { Logger } from '../util/logger.ts'
import { systemRng } from '../util/prng.ts'
import type { Rng } from '../util/prng.ts'
import {
  LLM_DEFAULT_BASE_URL, LLM_DEFAULT_MODEL, LLM_MAX_RESPONSE_BYTES, LLM_MAX_RETRIES, LLM_RETRY_BASE_MS, LLM_RETRY_MAX_MS,
  LLM_TIMEOUT_MS
} from './constants.ts'
import { LlmResponseError } from './errors.ts'
import { buildChatBody, decodeChatChunk, decodeChatCompletion, errorBodyText } from './llm-codec.ts'
import { SseDataDecoder } from './llm-sse.ts'
import { linkSignals } from '../util/abort.ts'
import type { ChatChunk, ChatMessage, ChatOptions, ChatResult, LlmClient } from './llm-types.ts'

export type FetchLike = (url: string, init: RequestInit) => Promise<Response>

export interface LlmClientInit {
  /** e.g. http://127.0.0.1:8080/v1 (default: AGENTMESH_LLM_URL, else LLM_DEFAULT_BASE_URL) */
  baseUrl?: string
  /** default: AGENTMESH_LLM_MODEL, else LLM_DEFAULT_MODEL */
  model?: string
  /** sent as `Authorization: Bearer <key>` (default: AGENTMESH_LLM_KEY) */
  apiKey?: string
  timeoutMs?: number
  /** retries after the first attempt */
  maxRetries?: number
  retryBaseMs?: number
  retryMaxMs?: number
  maxResponseBytes?: number
  /** environment to read AGENTMESH_LLM_* from (default: process.env where there is one) */
  env?: Record<string, string | undefined>
  fetch?: FetchLike
  clock?: Clock
  rng?: Rng
  logger?: Logger
}

export interface LlmConfig {
  baseUrl: string
  model: string
  apiKey?: string
}

function defaultEnv (): Record<string, string | undefined> {
  return (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env ?? {}
}

/** options over environment over defaults, validated */
export function resolveLlmConfig (init: LlmClientInit = {}): LlmConfig {
  const env = init.env ?? defaultEnv()
  const pick = (v: string | undefined): string | undefined => (v == null || v.trim() === '' ? undefined : v.trim())
  const baseUrl = (pick(init.baseUrl) ?? pick(env.AGENTMESH_LLM_URL) ?? LLM_DEFAULT_BASE_URL).replace(/\/+$/, '')
  let url: URL
  try {
    url = new URL(baseUrl)
  } catch {
    throw new InvalidArgumentError(`LLM base URL is not a URL: ${baseUrl}`)
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new InvalidArgumentError(`LLM base URL must be http(s): ${baseUrl}`)
  const config: LlmConfig = { baseUrl, model: pick(init.model) ?? pick(env.AGENTMESH_LLM_MODEL) ?? LLM_DEFAULT_MODEL }
  const apiKey = pick(init.apiKey) ?? pick(env.AGENTMESH_LLM_KEY)
  if (apiKey != null) config.apiKey = apiKey
  return config
}

export class HttpLlmClient implements LlmClient {
  readonly config: LlmConfig
  private readonly timeoutMs: number
  private readonly maxRetries: number
  private readonly policy: RetryPolicy
  private readonly maxResponseBytes: number
  private readonly fetch: FetchLike
  private readonly clock: Clock
  private readonly rng: Rng
  private readonly log: Logger

  constructor (init: LlmClientInit = {}) {
    this.config = resolveLlmConfig(init)
    this.timeoutMs = init.timeoutMs ?? LLM_TIMEOUT_MS
    this.maxRetries = init.maxRetries ?? LLM_MAX_RETRIES
    if (!(this.timeoutMs > 0) || !Number.isSafeInteger(this.maxRetries) || this.maxRetries < 0) {
      throw new InvalidArgumentError('LLM client: timeoutMs must be > 0 and maxRetries a non-negative integer')
    }
    this.policy = retryPolicy({
      initialDelayMs: init.retryBaseMs ?? LLM_RETRY_BASE_MS,
      maxDelayMs: init.retryMaxMs ?? LLM_RETRY_MAX_MS,
      multiplier: 2,
      maxAttempts: this.maxRetries + 1
    })
    this.maxResponseBytes = init.maxResponseBytes ?? LLM_MAX_RESPONSE_BYTES
    this.fetch = init.fetch ?? (async (url, req) => await globalThis.fetch(url, req))
    this.clock = init.clock ?? systemClock
    this.rng = init.rng ?? systemRng
    this.log = init.logger ?? componentLogger('agents:llm')
  }

  async chat (messages: ChatMessage[], options: ChatOptions = {}): Promise<ChatResult> {
    const model = options.model ?? this.config.model
    const body = buildChatBody(model, messages, { ...options, stream: false })
    const linked = linkSignals([options.signal], options.timeoutMs ?? this.timeoutMs, this.clock)
    try {
      const response = await this.post(body, linked.signal)
      const text = await this.readText(response, linked.signal)
      return decodeChatCompletion(text, model)
    } finally {
      linked.dispose()
    }
  }

  async * chatStream (messages: ChatMessage[], options: ChatOptions = {}): AsyncGenerator<ChatChunk> {
    const model = options.model ?? this.config.model
    const body = buildChatBody(model, messages, { ...options, stream: true })
    const linked = linkSignals([options.signal], options.timeoutMs ?? this.timeoutMs, this.clock)
    try {
      yield * this.streamChunks(body, linked.signal)
    } finally {
      linked.dispose()
    }
  }

  private async * streamChunks (body: unknown, signal: AbortSignal): AsyncGenerator<ChatChunk> {
    const response = await this.post(body, signal)
    if (response.body == null) throw new UnreachableError('LLM server sent no stream')
    const reader = response.body.getReader()
    const sse = new SseDataDecoder()
    let total = 0
    try {
      for (;;) {
        const { done, value } = await this.guard(reader.read(), signal)
        const events = done ? sse.end() : sse.push(value)
        if (!done) {
          total += value.byteLength
          if (total > this.maxResponseBytes) throw new MessageTooLargeError(`LLM stream larger than ${this.maxResponseBytes} bytes`)
        }
        for (const data of events) {
          if (data.trim() === '[DONE]') return
          const chunk = decodeChatChunk(data)
          if ('error' in chunk) throw new LlmResponseError(response.status, chunk.error)
          yield chunk
        }
        if (done) return
      }
    } finally {
      reader.cancel().catch(() => {})
    }
  }

  /** POSTs with retries; resolves with a 2xx response whose body is unread */
  private async post (body: unknown, signal: AbortSignal): Promise<Response> {
    const url = `${this.config.baseUrl}/chat/completions`
    const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' }
    if (this.config.apiKey != null) headers.authorization = `Bearer ${this.config.apiKey}`
    const payload = JSON.stringify(body)
    for (let attempt = 1; ; attempt++) {
      let retryAfterMs: number | undefined
      let failure: Error
      try {
        const response = await this.guard(this.fetch(url, { method: 'POST', headers, body: payload, signal }), signal)
        if (response.ok) return response
        const text = await this.readText(response, signal)
        failure = new LlmResponseError(response.status, errorBodyText(text))
        retryAfterMs = parseRetryAfter(response.headers.get('retry-after'), this.clock.now())
        if (!(failure as LlmResponseError).retryable) throw failure
      } catch (err) {
        if (signal.aborted) throw abortReason(signal)
        if (err instanceof LlmResponseError && !err.retryable) throw err
        if (err instanceof MessageTooLargeError || err instanceof InvalidArgumentError) throw err
        failure = err instanceof LlmResponseError ? err : new UnreachableError(`LLM server ${this.config.baseUrl} unreachable: ${(err as Error).message}`, { cause: err })
      }
      if (attempt >= this.policy.maxAttempts) throw failure
      const delayMs = Math.min(this.policy.maxDelayMs, retryAfterMs ?? backoffDelayMs(this.policy, attempt, this.rng))
      this.log('LLM call failed (%s), retry %d in %d ms', failure.message, attempt, delayMs)
      // the clock's timers do not keep a process alive; a call waiting to retry must
      const hold = globalThis.setTimeout(() => {}, delayMs + 1)
      try {
        await sleep(this.clock, delayMs, { signal })
      } finally {
        globalThis.clearTimeout(hold)
      }
    }
  }

  /** the body as text, bounded */
  private async readText (response: Response, signal: AbortSignal): Promise<string> {
    if (response.body == null) return ''
    const reader = response.body.getReader()
    const chunks: Uint8Array[] = []
    let total = 0
    try {
      for (;;) {
        const { done, value } = await this.guard(reader.read(), signal)
        if (done) break
        total += value.byteLength
        if (total > this.maxResponseBytes) throw new MessageTooLargeError(`LLM response larger than ${this.maxResponseBytes} bytes`)
        chunks.push(value)
      }
    } finally {
      reader.cancel().catch(() => {})
    }
    const all = new Uint8Array(total)
    let at = 0
    for (const c of chunks) { all.set(c, at); at += c.byteLength }
    return new TextDecoder().decode(all)
  }

  /** awaits `p`, turning an abort into our TimeoutError/AbortError and a fetch failure into UnreachableError */
  private async guard<T> (p: Promise<T>, signal: AbortSignal): Promise<T> {
    try {
      return await p
    } catch (err) {
      if (signal.aborted) throw abortReason(signal)
      if (err instanceof AgentMeshError) throw err
      throw new UnreachableError(`LLM server ${this.config.baseUrl} unreachable: ${(err as Error)?.message ?? String(err)}`, { cause: err })
    }
  }
}

/** Retry-After in seconds (or an HTTP date) -> ms; undefined when absent or unreadable */
export function parseRetryAfter (value: string | null, now = Date.now()): number | undefined {
  if (value == null || value.trim() === '') return undefined
  const seconds = Number(value)
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000
  const at = Date.parse(value)
  return Number.isNaN(at) ? undefined : Math.max(0, at - now)
}

/** the LLM client with config from `init` and the environment */
export function createLlmClient (init: LlmClientInit = {}): HttpLlmClient {
  return new HttpLlmClient(init)
}
