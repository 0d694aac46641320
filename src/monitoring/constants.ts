/** Limits and defaults of the monitoring system, with units in the names. */

/** Prometheus metric names: `[a-zA-Z_:][a-zA-Z0-9_:]*` */
export const METRIC_NAME_PATTERN = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/
/** Prometheus label names: `[a-zA-Z_][a-zA-Z0-9_]*`, and `__` is reserved */
export const LABEL_NAME_PATTERN = /^[a-zA-Z_][a-zA-Z0-9_]*$/
export const MAX_METRIC_NAME_CHARS = 200
export const MAX_LABELS_PER_METRIC = 16
/** ad-hoc gauges made by collectMetrics(); a bound so a caller with unbounded names cannot grow memory forever */
export const MAX_ADHOC_METRICS = 500

/** how often the event loop lag is sampled (timer drift through the Clock) */
export const EVENT_LOOP_SAMPLE_INTERVAL_MS = 500
/** how many recent lag samples the health check looks at (their maximum) */
export const EVENT_LOOP_WINDOW_SAMPLES = 10
export const EVENT_LOOP_DEGRADED_LAG_MS = 200
export const EVENT_LOOP_DOWN_LAG_MS = 1000

/** finished spans kept for recentSpans() */
export const SPAN_RING_SIZE = 1000
export const MAX_SPAN_NAME_CHARS = 200
export const MAX_SPAN_ATTRIBUTES = 64
export const MAX_ATTRIBUTE_VALUE_CHARS = 1024
/** spans held while the OTLP exporter module loads */
export const MAX_PENDING_EXPORT_SPANS = 2048

/** a health check slower than this counts as down */
export const HEALTH_CHECK_TIMEOUT_MS = 1000
export const MAX_COMPONENT_NAME_CHARS = 64
export const MAX_HEALTH_DETAIL_CHARS = 500

export const ALERT_EVAL_INTERVAL_MS = 1000
export const ALERT_HISTORY_SIZE = 200
export const MAX_ALERT_RULES = 256
/** firing series per rule (one alert per rule + label set) */
export const MAX_SERIES_PER_RULE = 256
export const MAX_ALERT_MESSAGE_CHARS = 500
/** an alert raised by generateAlert() stays active this long unless resolved or raised again */
export const MANUAL_ALERT_TTL_MS = 10 * 60_000

/** mesh snapshot wire format */
export const SNAPSHOT_VERSION = 1
export const MAX_SNAPSHOT_BYTES = 64 * 1024
export const MAX_SNAPSHOT_METRICS = 128
export const MAX_SNAPSHOT_ALERTS = 50
export const MAX_SNAPSHOT_COMPONENTS = 64
export const MAX_SNAPSHOT_EXTENSIONS = 16
export const MAX_SNAPSHOT_STRING_CHARS = 512
export const MAX_PEER_ID_CHARS = 128
/** a MeshView forgets a peer whose last snapshot is older than this */
export const SNAPSHOT_TTL_MS = 30_000
export const MAX_MESH_VIEW_PEERS = 10_000
export const SNAPSHOT_PUBLISH_INTERVAL_MS = 5_000

/** built-in metric names */
export const EVENT_LOOP_LAG_METRIC = 'agentmesh_process_event_loop_lag_seconds'
export const HEAP_USED_METRIC = 'agentmesh_process_heap_used_bytes'
export const HEAP_TOTAL_METRIC = 'agentmesh_process_heap_total_bytes'
export const RESIDENT_MEMORY_METRIC = 'agentmesh_process_resident_memory_bytes'
export const EXTERNAL_MEMORY_METRIC = 'agentmesh_process_external_memory_bytes'
export const ARRAY_BUFFERS_METRIC = 'agentmesh_process_array_buffers_bytes'
