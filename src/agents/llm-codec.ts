/**
 * The chat-completions wire format: building a request body, and validating what a server sent
 * back (a completion, a stream chunk, an error body). Nothing from the server is trusted.
 */
import { InvalidArgumentError, InvalidMessageError } from '../errors.ts'
import { LLM_MAX_ERROR_TEXT_CHARS, LLM_MAX_MESSAGES } from './constants.ts'
import type { ChatChunk, ChatMessage, ChatResult, ChatUsage } from './llm-types.ts'

const ROLES = new Set(['system', 'user', 'assistant', 'tool'])

export interface ChatRequestBody {
  model: string
  messages: ChatMessage[]
  temperature?: number
  max_tokens?: number
  stream?: boolean
}

export function buildChatBody (model: string, messages: ChatMessage[], opts: { temperature?: number, maxTokens?: number, stream: boolean }): ChatRequestBody {
  if (!Array.isArray(messages) || messages.length === 0) throw new InvalidArgumentError('chat needs at least one message')
  if (messages.length > LLM_MAX_MESSAGES) throw new InvalidArgumentError(`chat takes at most ${LLM_MAX_MESSAGES} messages`)
  for (const m of messages) {
    if (m == null || !ROLES.has(m.role) || typeof m.content !== 'string') {
      throw new InvalidArgumentError('each chat message needs a role (system|user|assistant|tool) and string content')
    }
  }
  const body: ChatRequestBody = { model, messages: messages.map(m => ({ role: m.role, content: m.content })) }
  if (opts.temperature != null) {
    if (!Number.isFinite(opts.temperature) || opts.temperature < 0 || opts.temperature > 2) throw new InvalidArgumentError('temperature must be in [0, 2]')
    body.temperature = opts.temperature
  }
  if (opts.maxTokens != null) {
    if (!Number.isSafeInteger(opts.maxTokens) || opts.maxTokens < 1) throw new InvalidArgumentError('maxTokens must be a positive integer')
    body.max_tokens = opts.maxTokens
  }
  if (opts.stream) body.stream = true
  return body
}

function isObject (x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x)
}

function parseJson (text: string, what: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    throw new InvalidMessageError(`${what} is not JSON`)
  }
}

function readUsage (u: unknown): ChatUsage | undefined {
  if (!isObject(u)) return undefined
  const n = (x: unknown): number => (typeof x === 'number' && Number.isFinite(x) ? x : 0)
  return { promptTokens: n(u.prompt_tokens), completionTokens: n(u.completion_tokens), totalTokens: n(u.total_tokens) }
}

function firstChoice (body: Record<string, unknown>, what: string): Record<string, unknown> {
  const choices = body.choices
  if (!Array.isArray(choices) || choices.length === 0 || !isObject(choices[0])) throw new InvalidMessageError(`${what} has no choices`)
  return choices[0]
}

function finishReasonOf (choice: Record<string, unknown>): string | null {
  return typeof choice.finish_reason === 'string' ? choice.finish_reason : null
}

/** a non-streaming completion body -> ChatResult */
export function decodeChatCompletion (text: string, requestedModel: string): ChatResult {
  const body = parseJson(text, 'chat completion')
  if (!isObject(body)) throw new InvalidMessageError('chat completion is not an object')
  const choice = firstChoice(body, 'chat completion')
  const message = choice.message
  if (!isObject(message)) throw new InvalidMessageError('chat completion choice has no message')
  const content = message.content
  if (content != null && typeof content !== 'string') throw new InvalidMessageError('chat completion content is not a string')
  const result: ChatResult = {
    text: content ?? '',
    model: typeof body.model === 'string' ? body.model : requestedModel,
    finishReason: finishReasonOf(choice)
  }
  const usage = readUsage(body.usage)
  if (usage != null) result.usage = usage
  return result
}

/** one `data:` payload of a stream (not `[DONE]`) -> ChatChunk, or an error body's message */
export function decodeChatChunk (data: string): ChatChunk | { error: string } {
  const body = parseJson(data, 'stream chunk')
  if (!isObject(body)) throw new InvalidMessageError('stream chunk is not an object')
  if (body.error != null) return { error: errorText(body) }
  const choices = body.choices
  // some servers send a final usage-only chunk with no choices
  if (Array.isArray(choices) && choices.length === 0) return { delta: '', finishReason: null }
  const choice = firstChoice(body, 'stream chunk')
  const delta = choice.delta
  let text = ''
  if (isObject(delta) && delta.content != null) {
    if (typeof delta.content !== 'string') throw new InvalidMessageError('stream chunk content is not a string')
    text = delta.content
  }
  return { delta: text, finishReason: finishReasonOf(choice) }
}

/** the human message of an error response: OpenAI's `{error:{message}}`, else the text itself */
export function errorText (body: unknown): string {
  let text: string
  if (isObject(body) && isObject(body.error) && typeof body.error.message === 'string') text = body.error.message
  else if (isObject(body) && typeof body.error === 'string') text = body.error
  else if (isObject(body) && typeof body.message === 'string') text = body.message
  else text = typeof body === 'string' ? body : JSON.stringify(body)
  return text.length > LLM_MAX_ERROR_TEXT_CHARS ? `${text.slice(0, LLM_MAX_ERROR_TEXT_CHARS)}...` : text
}

/** the error message of a non-2xx response body (JSON or text) */
export function errorBodyText (text: string): string {
  try {
    return errorText(JSON.parse(text))
  } catch {
    return errorText(text.trim() === '' ? 'no error body' : text)
  }
}
