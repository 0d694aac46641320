/**
 * `llm-chat`: a conversation agent. `{op:'chat', text}` -> `{text}`, the conversation kept in
 * state (`history`, bounded to the last CHAT_HISTORY_MAX_MESSAGES messages) so it survives
 * migration. `{op:'history'}` -> `{messages}`, `{op:'reset'}` clears it. Config: `system` (a
 * system prompt), `model`, `temperature`, `maxTokens`.
 */
import { InvalidArgumentError } from '../../errors.ts'
import { CHAT_HISTORY_MAX_MESSAGES, CHAT_MAX_TEXT_CHARS } from '../constants.ts'
import { defineAgent } from '../define.ts'
import type { ChatMessage, ChatOptions } from '../llm-types.ts'
import type { JsonValue } from '../types.ts'
import { isObject, opOf, unknownOp } from './shared.ts'

function historyOf (value: unknown): ChatMessage[] {
  if (!Array.isArray(value)) return []
  return value.filter((m): m is ChatMessage => isObject(m) && (m.role === 'user' || m.role === 'assistant') && typeof m.content === 'string')
}

export const llmChat = defineAgent({
  kind: 'llm-chat',
  requirements: { cpu: 0.1, memoryMb: 32, tags: ['llm'] },
  async onMessage (message, ctx): Promise<JsonValue> {
    const { op, msg } = opOf(message, 'llm-chat')
    if (op === 'history') return { messages: historyOf(ctx.state.get('history')) as unknown as Array<{ role: string, content: string }> }
    if (op === 'reset') { ctx.state.delete('history'); return { ok: true } }
    if (op !== 'chat') return unknownOp('llm-chat', op, ['chat', 'history', 'reset'])
    const text = msg.text
    if (typeof text !== 'string' || text.length === 0 || text.length > CHAT_MAX_TEXT_CHARS) {
      throw new InvalidArgumentError(`llm-chat: text must be a non-empty string of at most ${CHAT_MAX_TEXT_CHARS} chars`)
    }
    const history = historyOf(ctx.state.get('history'))
    const system = typeof ctx.config.system === 'string' ? [{ role: 'system' as const, content: ctx.config.system }] : []
    const options: ChatOptions = { signal: ctx.turnSignal }
    if (typeof ctx.config.model === 'string') options.model = ctx.config.model
    if (typeof ctx.config.temperature === 'number') options.temperature = ctx.config.temperature
    if (typeof ctx.config.maxTokens === 'number') options.maxTokens = ctx.config.maxTokens
    const result = await ctx.llm.chat([...system, ...history, { role: 'user', content: text }], options)
    const next = [...history, { role: 'user', content: text }, { role: 'assistant', content: result.text }].slice(-CHAT_HISTORY_MAX_MESSAGES)
    ctx.state.set('history', next)
    return { text: result.text }
  }
})
