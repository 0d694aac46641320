/**
 * Spans on OpenTelemetry: a per-instance BasicTracerProvider (never the global one: several peers
 * live in one test process), a processor that keeps finished spans in a bounded ring for
 * recentSpans() and the dashboard, and OTLP/HTTP export when an endpoint is configured.
 * With tracing off, spans are plain id carriers: the traceparent still propagates, nothing is recorded.
 */
import { ROOT_CONTEXT, SpanKind as OtelSpanKind, SpanStatusCode, trace } from '@opentelemetry/api'
import type { Span as OtelSpan, Tracer as OtelTracer } from '@opentelemetry/api'
import { BasicTracerProvider } from '@opentelemetry/sdk-trace-base'
import type { IdGenerator, ReadableSpan, SpanProcessor } from '@opentelemetry/sdk-trace-base'
import { resourceFromAttributes } from '@opentelemetry/resources'
import { InvalidArgumentError } from '../errors.ts'
import type { Logger } from '../util/logger.ts'
import type { Rng } from '../util/prng.ts'
import { MAX_ATTRIBUTE_VALUE_CHARS, MAX_SPAN_ATTRIBUTES, MAX_SPAN_NAME_CHARS, SPAN_RING_SIZE } from './constants.ts'
import { LazyOtlpProcessor } from './otlp.ts'
import { TRACE_FLAG_SAMPLED, isValidTraceId, randomHexId, tryParseTraceparent } from './traceparent.ts'
import type { TraceParent } from './traceparent.ts'
import type { Span, SpanKind, StartSpanOptions, Tracing } from './types.ts'
import { RingSpan } from './ring-span.ts'
import type { RingSink, SpanRecord } from './ring-span.ts'

export type { SpanRecord } from './ring-span.ts'

export interface MeshTracerInit {
  peerId: string
  rng: Rng
  log: Logger
  /** record spans (default true); off, spans only carry ids */
  tracing?: boolean
  /** finished spans kept for recentSpans() (default SPAN_RING_SIZE) */
  spanRingSize?: number
  /** OTLP/HTTP traces endpoint, e.g. http://127.0.0.1:4318/v1/traces */
  otlpEndpoint?: string
  otlpHeaders?: Record<string, string>
}

const KINDS: Record<SpanKind, OtelSpanKind> = {
  internal: OtelSpanKind.INTERNAL,
  client: OtelSpanKind.CLIENT,
  server: OtelSpanKind.SERVER,
  producer: OtelSpanKind.PRODUCER,
  consumer: OtelSpanKind.CONSUMER
}
const KIND_NAMES = new Map<OtelSpanKind, SpanKind>(Object.entries(KINDS).map(([k, v]) => [v, k as SpanKind]))

/** a bounded ring of the most recent finished spans */
export class SpanRing implements SpanProcessor {
  /** finished spans: SDK spans as records, ring spans as themselves (made into records when read) */
  private readonly items: Array<SpanRecord | RingSpan> = []
  private next = 0
  private readonly size: number
  private readonly peer: string

  constructor (size: number, peer: string) {
    this.size = Math.max(1, size)
    this.peer = peer
  }

  onStart (): void {}

  onEnd (span: ReadableSpan): void {
    const ctx = span.spanContext()
    const code = span.status.code
    const record: SpanRecord = {
      traceId: ctx.traceId,
      spanId: ctx.spanId,
      name: span.name,
      peer: this.peer,
      kind: KIND_NAMES.get(span.kind) ?? 'internal',
      start: span.startTime[0] * 1e3 + span.startTime[1] / 1e6,
      duration: span.duration[0] * 1e3 + span.duration[1] / 1e6,
      attributes: { ...span.attributes } as Record<string, string | number | boolean>,
      status: code === SpanStatusCode.ERROR ? 'error' : code === SpanStatusCode.OK ? 'ok' : 'unset'
    }
    if (span.parentSpanContext?.spanId != null) record.parentSpanId = span.parentSpanContext.spanId
    if (code === SpanStatusCode.ERROR && span.status.message != null) record.error = span.status.message
    this.add(record)
  }

  add (record: SpanRecord | RingSpan): void {
    if (this.items.length < this.size) this.items.push(record)
    else this.items[this.next] = record
    this.next = (this.next + 1) % this.size
  }

  /** the newest `limit` finished spans, oldest first */
  recent (limit = this.size): SpanRecord[] {
    const ordered = this.items.length < this.size ? this.items.slice() : [...this.items.slice(this.next), ...this.items.slice(0, this.next)]
    return ordered.slice(Math.max(0, ordered.length - Math.max(0, limit))).map(item => item instanceof RingSpan ? item.toRecord() : item)
  }

  async forceFlush (): Promise<void> {}
  async shutdown (): Promise<void> {}
}

/** random ids from the injected Rng; the next trace id can be pinned (startTrace with a given id) */
class MeshIdGenerator implements IdGenerator {
  pinnedTraceId?: string
  constructor (private readonly rng: Rng) {}

  generateTraceId (): string {
    const pinned = this.pinnedTraceId
    if (pinned != null) {
      this.pinnedTraceId = undefined
      return pinned
    }
    return randomHexId(this.rng, 16)
  }

  generateSpanId (): string {
    return randomHexId(this.rng, 8)
  }
}

function flagsHex (flags: number): string {
  return (flags & 0xff).toString(16).padStart(2, '0')
}

function errorMessage (err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err)
}

/** a span recorded through OpenTelemetry */
class RecordedSpan implements Span {
  readonly traceId: string
  readonly spanId: string
  readonly flags: number
  readonly otel: OtelSpan

  constructor (otel: OtelSpan) {
    this.otel = otel
    const ctx = otel.spanContext()
    this.traceId = ctx.traceId
    this.spanId = ctx.spanId
    this.flags = ctx.traceFlags
  }

  traceparent (): string { return `00-${this.traceId}-${this.spanId}-${flagsHex(this.flags)}` }
  setAttribute (key: string, value: string | number | boolean): void { this.otel.setAttribute(key, value) }

  recordError (err: unknown): void {
    this.otel.recordException(err instanceof Error ? err : String(err))
    this.otel.setStatus({ code: SpanStatusCode.ERROR, message: errorMessage(err).slice(0, MAX_ATTRIBUTE_VALUE_CHARS) })
  }

  end (): void { this.otel.end() }
}

/** tracing off: carries ids so the traceparent still propagates, records nothing */
class UnrecordedSpan implements Span {
  constructor (readonly traceId: string, readonly spanId: string, readonly flags: number) {}
  traceparent (): string { return `00-${this.traceId}-${this.spanId}-${flagsHex(this.flags)}` }
  setAttribute (): void {}
  recordError (): void {}
  end (): void {}
}

export class MeshTracer implements Tracing {
  private readonly init: MeshTracerInit
  private readonly ids: MeshIdGenerator
  private readonly ring: SpanRing
  private provider?: BasicTracerProvider
  private tracer?: OtelTracer
  private enabled: boolean
  /** spans only for the ring (no exporter): recorded without the SDK */
  private readonly ringOnly: boolean
  private readonly sink: RingSink

  constructor (init: MeshTracerInit) {
    this.init = init
    this.ids = new MeshIdGenerator(init.rng)
    this.ring = new SpanRing(init.spanRingSize ?? SPAN_RING_SIZE, init.peerId)
    this.enabled = init.tracing !== false
    this.ringOnly = init.otlpEndpoint == null
    const ring = this.ring
    this.sink = { peer: init.peerId, add: (span) => { ring.add(span) } }
  }

  get tracingEnabled (): boolean { return this.enabled }

  /** turns span recording on or off; ids keep propagating either way */
  setTracing (enabled: boolean): void {
    this.enabled = enabled
  }

  startSpan (name: string, options: StartSpanOptions = {}): Span {
    const parent = this.parentOf(options.parent)
    if (!this.enabled) {
      return new UnrecordedSpan(parent?.traceId ?? randomHexId(this.init.rng, 16), randomHexId(this.init.rng, 8), parent?.flags ?? TRACE_FLAG_SAMPLED)
    }
    if (this.ringOnly) {
      return new RingSpan(this.sink, name, options.kind ?? 'internal', parent?.traceId ?? this.ids.generateTraceId(), this.ids.generateSpanId(),
        parent?.flags ?? TRACE_FLAG_SAMPLED, parent?.spanId, options.attributes)
    }
    const ctx = parent == null
      ? ROOT_CONTEXT
      : trace.setSpanContext(ROOT_CONTEXT, { traceId: parent.traceId, spanId: parent.spanId, traceFlags: parent.flags, isRemote: true })
    const otel = this.otelTracer().startSpan(name.slice(0, MAX_SPAN_NAME_CHARS), {
      kind: KINDS[options.kind ?? 'internal'] ?? OtelSpanKind.INTERNAL,
      ...(options.attributes != null ? { attributes: options.attributes } : {})
    }, ctx)
    return new RecordedSpan(otel)
  }

  /** the seed's method: starts a root span, in the given trace (32 lowercase hex) or a new one */
  startTrace (traceId: string | undefined, operation: string, options: Omit<StartSpanOptions, 'parent'> = {}): Span {
    if (traceId == null || traceId === '') return this.startSpan(operation, { ...options, parent: undefined })
    if (!isValidTraceId(traceId)) throw new InvalidArgumentError(`invalid trace id ${JSON.stringify(traceId)}: 32 lowercase hex digits, not all zero`)
    if (!this.enabled) return new UnrecordedSpan(traceId, randomHexId(this.init.rng, 8), TRACE_FLAG_SAMPLED)
    if (this.ringOnly) return new RingSpan(this.sink, operation, options.kind ?? 'internal', traceId, this.ids.generateSpanId(), TRACE_FLAG_SAMPLED, undefined, options.attributes)
    this.otelTracer()
    this.ids.pinnedTraceId = traceId
    try {
      return this.startSpan(operation, { ...options, parent: undefined })
    } finally {
      this.ids.pinnedTraceId = undefined
    }
  }

  /** finished spans, oldest first, at most `limit` */
  recentSpans (limit?: number): SpanRecord[] {
    return this.ring.recent(limit)
  }

  /** pushes pending spans to the OTLP exporter, if any */
  async flush (): Promise<void> {
    await this.provider?.forceFlush()
  }

  async shutdown (): Promise<void> {
    const provider = this.provider
    this.provider = undefined
    this.tracer = undefined
    await provider?.shutdown()
  }

  private parentOf (parent: string | Span | undefined): TraceParent | undefined {
    if (parent == null) return undefined
    if (parent instanceof RecordedSpan || parent instanceof UnrecordedSpan || parent instanceof RingSpan) {
      return { traceId: parent.traceId, spanId: parent.spanId, flags: parent.flags }
    }
    const value = typeof parent === 'string' ? parent : parent.traceparent()
    const parsed = tryParseTraceparent(value)
    if (parsed == null) this.init.log('ignoring malformed traceparent %s; starting a new trace', String(value).slice(0, 80))
    return parsed
  }

  private otelTracer (): OtelTracer {
    if (this.tracer != null) return this.tracer
    const processors: SpanProcessor[] = [this.ring]
    if (this.init.otlpEndpoint != null) {
      processors.push(new LazyOtlpProcessor({ url: this.init.otlpEndpoint, log: this.init.log, ...(this.init.otlpHeaders != null ? { headers: this.init.otlpHeaders } : {}) }))
    }
    this.provider = new BasicTracerProvider({
      resource: resourceFromAttributes({ 'service.name': 'agentmesh', 'service.instance.id': this.init.peerId }),
      idGenerator: this.ids,
      spanProcessors: processors,
      spanLimits: { attributeCountLimit: MAX_SPAN_ATTRIBUTES, attributeValueLengthLimit: MAX_ATTRIBUTE_VALUE_CHARS }
    })
    this.tracer = this.provider.getTracer('agentmesh')
    return this.tracer
  }
}
