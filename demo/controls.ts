/**
 * The controls: deploy an agent of a kind (optionally on a chosen peer), send an agent a message
 * and see its reply, migrate an agent, and stop this peer.
 */
import type { MeshNode } from '../src/node.ts'
import type { MeshModel } from './model.ts'
import { $, bindAction, setOptions, short } from './dom.ts'

/** how long a message from the page waits for the agent's reply */
const MESSAGE_TIMEOUT_MS = 15_000

const EXAMPLES: Record<string, string> = {
  counter: '{"op":"inc"}',
  echo: '{"hello":"mesh"}',
  'llm-chat': '{"op":"chat","text":"hello"}',
  coordinator: '{"op":"status"}',
  worker: '{"op":"status"}'
}

function peerOptions (model: MeshModel, withAny: boolean): Array<{ value: string, label: string }> {
  const peers = model.peers.filter(p => p.status === 'alive').map(p => ({
    value: p.peerId,
    label: p.self ? `this tab (${short(p.peerId)})` : `${p.role} ${short(p.peerId)}`
  }))
  return withAny ? [{ value: '', label: 'placement decides' }, ...peers] : peers
}

function parseJson (text: string, what: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    throw new Error(`${what} is not valid JSON`)
  }
}

export class Controls {
  private deployed = 0

  /** onStopped: this peer was stopped from its page (the dashboard stops refreshing) */
  constructor (private readonly node: MeshNode, private readonly onChange: () => void, private readonly onStopped: () => void) {
    const kind = $('#deploy-kind') as HTMLSelectElement
    kind.addEventListener('change', () => {
      ($('#message-body') as HTMLTextAreaElement).value = EXAMPLES[kind.value] ?? '{}'
    })
    bindAction($('#deploy-go') as HTMLButtonElement, $('#deploy-out'), async () => await this.deploy())
    bindAction($('#message-go') as HTMLButtonElement, $('#message-out'), async () => await this.message())
    bindAction($('#migrate-go') as HTMLButtonElement, $('#migrate-out'), async () => await this.migrate())
    bindAction($('#stop-go') as HTMLButtonElement, $('#stop-out'), async () => {
      this.onStopped()
      await this.node.stop()
      $('#status').textContent = 'stopped'
      $('#status').className = 'pill err'
      return 'this peer stopped: its agents move to other peers; reload the page to rejoin'
    })
  }

  update (model: MeshModel): void {
    setOptions($('#deploy-kind') as HTMLSelectElement, model.kinds.map(k => ({ value: k, label: k })))
    setOptions($('#deploy-node') as HTMLSelectElement, peerOptions(model, true))
    setOptions($('#migrate-node') as HTMLSelectElement, peerOptions(model, false))
    const agents = model.agents.map(a => ({ value: a.id, label: `${a.id} (${a.kind})` }))
    setOptions($('#message-agent') as HTMLSelectElement, agents)
    setOptions($('#migrate-agent') as HTMLSelectElement, agents)
  }

  private async deploy (): Promise<string> {
    const kind = ($('#deploy-kind') as HTMLSelectElement).value
    const node = ($('#deploy-node') as HTMLSelectElement).value
    const idInput = $('#deploy-id') as HTMLInputElement
    const id = idInput.value.trim() !== '' ? idInput.value.trim() : `${kind}-${Date.now().toString(36)}-${++this.deployed}`
    const configText = ($('#deploy-config') as HTMLInputElement).value.trim()
    const config = configText !== '' ? parseJson(configText, 'config') : undefined
    if (config !== undefined && (config == null || typeof config !== 'object' || Array.isArray(config))) throw new Error('config must be a JSON object')
    const d = await this.node.agents.deployAgent(id, {
      kind,
      ...(node !== '' ? { node } : {}),
      ...(config !== undefined ? { config: config as Record<string, never> } : {})
    }, { signal: AbortSignal.timeout(30_000) })
    idInput.value = ''
    this.onChange()
    return `deployed ${d.id} (${d.kind}) on ${d.node === this.node.peerId ? 'this tab' : short(d.node)}, epoch ${d.epoch}`
  }

  private async message (): Promise<string> {
    const id = ($('#message-agent') as HTMLSelectElement).value
    if (id === '') throw new Error('no agent chosen (deploy one first)')
    const body = parseJson(($('#message-body') as HTMLTextAreaElement).value, 'the message')
    const started = performance.now()
    const reply = await this.node.agents.call(id, body as never, { timeoutMs: MESSAGE_TIMEOUT_MS, signal: AbortSignal.timeout(MESSAGE_TIMEOUT_MS + 1000) })
    return `${JSON.stringify(reply)}  (${Math.round(performance.now() - started)} ms)`
  }

  private async migrate (): Promise<string> {
    const id = ($('#migrate-agent') as HTMLSelectElement).value
    const target = ($('#migrate-node') as HTMLSelectElement).value
    if (id === '' || target === '') throw new Error('choose an agent and a peer')
    const d = await this.node.agents.migrateAgent(id, target, { signal: AbortSignal.timeout(30_000) })
    this.onChange()
    return `${d.id} now on ${d.node === this.node.peerId ? 'this tab' : short(d.node)}, epoch ${d.epoch}`
  }
}
