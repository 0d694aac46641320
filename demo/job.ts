/**
 * The coordinator/worker job: deploys a coordinator (which deploys its workers across peers),
 * starts a primes job on it, and follows its progress while the agents table and topology show
 * where the workers run. Killing a peer meanwhile shows the tasks surviving it.
 */
import type { MeshNode } from '../src/node.ts'
import type { MeshModel } from './model.ts'
import { $, bindAction, el, short } from './dom.ts'

/** how often the job's status is asked for while it runs */
const JOB_POLL_MS = 1000
/** a job not done in this long stops being followed (it goes on running) */
const JOB_FOLLOW_MS = 10 * 60_000

interface JobStatus { done: number, total: number, result?: unknown }

export class JobPanel {
  private coordinatorId?: string
  private timer?: ReturnType<typeof setInterval>

  constructor (private readonly node: MeshNode) {
    bindAction($('#job-go') as HTMLButtonElement, $('#job-out'), async () => await this.run())
  }

  /** workers per peer, from the model: shows the tasks spreading */
  update (model: MeshModel): void {
    const id = this.coordinatorId
    const box = $('#job-spread')
    if (id == null) { box.replaceChildren(); return }
    const workers = model.agents.filter(a => a.kind === 'worker' && a.id.startsWith(`${id}`))
    const byNode = new Map<string, number>()
    for (const w of workers) byNode.set(w.node, (byNode.get(w.node) ?? 0) + 1)
    const coord = model.agents.find(a => a.id === id)
    box.replaceChildren(
      el('div', { class: 'muted' }, `coordinator ${id} on ${coord != null ? (coord.node === model.self ? 'this tab' : short(coord.node)) : '?'}; workers per peer:`),
      ...[...byNode].map(([peer, n]) => el('div', { class: 'spread-row' },
        el('span', { class: 'id' }, peer === model.self ? 'this tab' : short(peer)),
        el('span', { class: 'spread-bar', style: `width:${n * 18}px` }), ` ${n}`)))
  }

  stop (): void {
    clearInterval(this.timer)
  }

  private async run (): Promise<string> {
    const workers = Number(($('#job-workers') as HTMLInputElement).value)
    const to = Number(($('#job-to') as HTMLInputElement).value)
    if (!Number.isInteger(workers) || workers < 1 || workers > 32) throw new Error('workers: 1-32')
    if (!Number.isInteger(to) || to < 10 || to > 50_000_000) throw new Error('count primes below: 10-50,000,000')
    const id = `job-${Date.now().toString(36)}`
    const signal = AbortSignal.timeout(60_000)
    await this.node.agents.deployAgent(id, { kind: 'coordinator', config: { workers } }, { signal })
    const started = await this.node.agents.call(id, { op: 'start', job: { type: 'primes', from: 0, to, chunk: Math.max(1000, Math.ceil(to / (workers * 8))) } }, { signal }) as { tasks?: number }
    this.coordinatorId = id
    this.follow(id)
    return `job started on ${id}: ${started.tasks ?? '?'} tasks over ${workers} workers`
  }

  private follow (id: string): void {
    clearInterval(this.timer)
    const out = $('#job-progress')
    const until = Date.now() + JOB_FOLLOW_MS
    let busy = false
    this.timer = setInterval(() => {
      if (busy) return
      if (Date.now() > until || this.coordinatorId !== id) { clearInterval(this.timer); return }
      busy = true
      this.node.agents.call(id, { op: 'status' }, { timeoutMs: 5000, signal: AbortSignal.timeout(6000) })
        .then(s => {
          const st = s as unknown as JobStatus
          const pct = st.total > 0 ? Math.round(st.done / st.total * 100) : 0
          out.replaceChildren(el('progress', { max: String(st.total), value: String(st.done) }),
            ` ${st.done}/${st.total} tasks (${pct}%)${st.result !== undefined ? ` · result: ${JSON.stringify(st.result)}` : ''}`)
          if (st.total > 0 && st.done === st.total) clearInterval(this.timer)
        })
        .catch((err: unknown) => { out.textContent = `status: ${err instanceof Error ? err.message : String(err)} (retrying)` })
        .finally(() => { busy = false })
    }, JOB_POLL_MS)
  }
}
