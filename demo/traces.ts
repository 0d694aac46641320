/**
 * Recent traces as waterfalls: this peer's finished spans grouped by trace, newest first, each
 * span a bar placed by its start and duration under its parent.
 */
import type { MeshNode } from '../src/node.ts'
import type { SpanRecord } from '../src/monitoring/index.ts'
import { el, formatMs, short } from './dom.ts'

/** spans read from the ring per refresh */
const SPANS_READ = 300
/** traces drawn */
const TRACES_SHOWN = 6
/** span rows per trace */
const ROWS_PER_TRACE = 12

/** spans in tree order (parent before children), each with its depth */
export function orderTrace (spans: SpanRecord[]): Array<{ span: SpanRecord, depth: number }> {
  const ids = new Set(spans.map(s => s.spanId))
  const children = new Map<string, SpanRecord[]>()
  const roots: SpanRecord[] = []
  for (const s of spans) {
    if (s.parentSpanId != null && ids.has(s.parentSpanId)) {
      const list = children.get(s.parentSpanId) ?? []
      list.push(s)
      children.set(s.parentSpanId, list)
    } else roots.push(s)
  }
  const out: Array<{ span: SpanRecord, depth: number }> = []
  const visit = (s: SpanRecord, depth: number): void => {
    out.push({ span: s, depth })
    for (const c of (children.get(s.spanId) ?? []).sort((a, b) => a.start - b.start)) visit(c, depth + 1)
  }
  for (const r of roots.sort((a, b) => a.start - b.start)) visit(r, 0)
  return out
}

export function renderTraces (node: MeshNode, box: HTMLElement, filter: string): void {
  const byTrace = new Map<string, SpanRecord[]>()
  for (const s of node.monitoring.recentSpans(SPANS_READ)) {
    const list = byTrace.get(s.traceId) ?? []
    list.push(s)
    byTrace.set(s.traceId, list)
  }
  const traces = [...byTrace.values()]
    .filter(spans => filter === '' || spans.some(s => s.name.includes(filter)))
    .map(spans => ({ spans, start: Math.min(...spans.map(s => s.start)), end: Math.max(...spans.map(s => s.start + s.duration)) }))
    .sort((a, b) => b.start - a.start)
    .slice(0, TRACES_SHOWN)
  if (traces.length === 0) {
    box.replaceChildren(el('p', { class: 'muted' }, 'no spans recorded here yet: send an agent a message'))
    return
  }
  box.replaceChildren(...traces.map(t => {
    const total = Math.max(t.end - t.start, 0.001)
    const rows = orderTrace(t.spans).slice(0, ROWS_PER_TRACE).map(({ span, depth }) => {
      const left = (span.start - t.start) / total * 100
      const width = Math.max(span.duration / total * 100, 0.5)
      const bar = el('div', { class: `bar ${span.kind} ${span.status}`, style: `left:${left.toFixed(2)}%;width:${width.toFixed(2)}%` })
      bar.title = `${span.name} on ${span.peer}\n${formatMs(span.duration)}${span.error != null ? `\n${span.error}` : ''}`
      return el('div', { class: 'span-row' },
        el('div', { class: 'span-name', style: `padding-left:${depth * 10}px` }, span.name),
        el('div', { class: 'span-track' }, bar),
        el('div', { class: 'span-ms' }, formatMs(span.duration)))
    })
    return el('div', { class: 'trace' },
      el('div', { class: 'trace-head muted' }, `trace ${short(t.spans[0].traceId)} · ${t.spans.length} spans · ${formatMs(t.end - t.start)} · ${new Date(t.start).toLocaleTimeString()}`),
      ...rows)
  }))
}
