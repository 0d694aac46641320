/** The LLM client's contract: what an agent's `ctx.llm` offers (OpenAI-compatible chat completions). */
import type { AbortOptions } from '../util/abort.ts'

export type ChatRole = 'system' | 'user' | 'assistant' | 'tool'

export interface ChatMessage {
  role: ChatRole
  content: string
}

export interface ChatOptions extends AbortOptions {
  /** overrides the client's model */
  model?: string
  temperature?: number
  maxTokens?: number
  /** deadline for the whole call, retries included (default: the client's) */
  timeoutMs?: number
}

export interface ChatUsage {
  promptTokens: number
  completionTokens: number
  totalTokens: number
}

export interface ChatResult {
  text: string
  model: string
  /** 'stop', 'length', ... as the server said; null if it did not */
  finishReason: string | null
  usage?: ChatUsage
}

export interface ChatChunk {
  /** text added by this chunk (may be empty) */
  delta: string
  finishReason: string | null
}

export interface LlmClient {
  /** one non-streaming completion */
  chat: (messages: ChatMessage[], options?: ChatOptions) => Promise<ChatResult>
  /** a streaming completion (SSE); the iteration ends at the server's `[DONE]` */
  chatStream: (messages: ChatMessage[], options?: ChatOptions) => AsyncIterable<ChatChunk>
}
