/** The replicated documents' metrics, registered through the Telemetry contract (no-ops without one). */
import type { Counter, Gauge, Histogram, Telemetry } from '../../monitoring/types.ts'

export interface CrdtMetrics {
  /** updates received and applied, by path: gossip | sync */
  updatesIn: Counter
  /** local updates published (gossip) or announced for pulling (announce) */
  updatesOut: Counter
  /** messages refused, by reason (error name) */
  invalidMessages: Counter
  /** encoded size of each document, label doc */
  docBytes: Gauge
  /** whole-document encodings made (late joiners, compaction, size checks); a cached one is not counted */
  fullStateEncodes: Counter
  /** updates accepted but not yet durable, all documents */
  pendingUpdates: Gauge
  /** documents held, by role: member | replica */
  docsHeld: Gauge
  /** catch-up exchanges, by outcome: ok | error */
  syncs: Counter
  /** duration of a catch-up exchange, seconds */
  syncSeconds: Histogram
  /** time a flush waited for its replicas, seconds */
  flushSeconds: Histogram
  /** operations a peer's digest showed we lacked when it arrived (sync lag, in operations) */
  syncLagOps: Histogram
  /** the longest any held doc has lacked updates a peer showed it has, seconds (read when scraped) */
  syncLagSeconds: Gauge
}

const noopCounter: Counter = { inc: () => {} }
const noopGauge: Gauge = { set: () => {}, inc: () => {}, dec: () => {} }
const noopHistogram: Histogram = { observe: () => {}, startTimer: () => () => 0 }

export function createCrdtMetrics (telemetry?: Telemetry, collect?: { pending: () => number, lagSeconds: () => number }): CrdtMetrics {
  if (telemetry == null) {
    return {
      updatesIn: noopCounter,
      updatesOut: noopCounter,
      invalidMessages: noopCounter,
      docBytes: noopGauge,
      fullStateEncodes: noopCounter,
      pendingUpdates: noopGauge,
      docsHeld: noopGauge,
      syncs: noopCounter,
      syncSeconds: noopHistogram,
      flushSeconds: noopHistogram,
      syncLagOps: noopHistogram,
      syncLagSeconds: noopGauge
    }
  }
  const m = telemetry.metrics
  return {
    updatesIn: m.counter('agentmesh_crdt_updates_in_total', { help: 'document updates received and applied', labelNames: ['path'] }),
    updatesOut: m.counter('agentmesh_crdt_updates_out_total', { help: 'local document updates sent', labelNames: ['path'] }),
    invalidMessages: m.counter('agentmesh_crdt_invalid_messages_total', { help: 'crdt messages refused', labelNames: ['reason'] }),
    docBytes: m.gauge('agentmesh_crdt_doc_bytes', { help: 'encoded size of a replicated document', labelNames: ['doc'] }),
    fullStateEncodes: m.counter('agentmesh_crdt_full_state_encodes_total', { help: 'whole-document encodings made (late joiners, compaction, size checks)' }),
    pendingUpdates: m.gauge('agentmesh_crdt_pending_updates', {
      help: 'document updates not yet durable',
      collect: collect == null ? undefined : (g) => { g.set(collect.pending()) }
    }),
    docsHeld: m.gauge('agentmesh_crdt_docs', { help: 'replicated documents held', labelNames: ['role'] }),
    syncs: m.counter('agentmesh_crdt_syncs_total', { help: 'catch-up exchanges', labelNames: ['outcome'] }),
    syncSeconds: m.histogram('agentmesh_crdt_sync_duration_seconds', { help: 'duration of a catch-up exchange' }),
    flushSeconds: m.histogram('agentmesh_crdt_flush_wait_seconds', { help: 'time a flush waited for replicas to persist' }),
    syncLagOps: m.histogram('agentmesh_crdt_sync_lag_operations', {
      help: 'operations a peer digest showed missing locally',
      buckets: [1, 10, 100, 1000, 10000, 100000]
    }),
    syncLagSeconds: m.gauge('agentmesh_crdt_sync_lag_seconds', {
      help: 'longest time a held document has lacked updates a peer showed it has',
      collect: collect == null ? undefined : (g) => { g.set(collect.lagSeconds()) }
    })
  }
}
