/**
 * A recorded span for the common case, spans kept only in this peer's ring (no OTLP export): a
 * few fields and, on end, one SpanRecord. It skips what the OpenTelemetry SDK does per span
 * (context objects, sampler, resource, span-limit machinery, events), which cost several
 * microseconds per span on the broker's hot path. With an OTLP endpoint the SDK records spans
 * instead (tracing.ts), so exported spans stay standard.
 */
import { MAX_ATTRIBUTE_VALUE_CHARS, MAX_SPAN_ATTRIBUTES, MAX_SPAN_NAME_CHARS } from './constants.ts'
import type { Span, SpanKind } from './types.ts'

type AttributeValue = string | number | boolean

/** a finished span as kept in the ring and served by `GET /traces` */
export interface SpanRecord {
  traceId: string
  spanId: string
  parentSpanId?: string
  name: string
  /** the peer that recorded it */
  peer: string
  kind: SpanKind
  /** start, ms since the epoch */
  start: number
  /** ms */
  duration: number
  attributes: Record<string, string | number | boolean>
  status: 'unset' | 'ok' | 'error'
  /** the status message of a failed span */
  error?: string
}


/** where finished ring spans go (the span itself: its record is made only when someone reads it) */
export interface RingSink {
  readonly peer: string
  add: (span: RingSpan) => void
}

const HEX_FLAGS = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'))
const now: () => number = () => performance.timeOrigin + performance.now()

function fitValue (value: AttributeValue): AttributeValue {
  return typeof value === 'string' && value.length > MAX_ATTRIBUTE_VALUE_CHARS ? value.slice(0, MAX_ATTRIBUTE_VALUE_CHARS) : value
}

export class RingSpan implements Span {
  readonly traceId: string
  readonly spanId: string
  readonly flags: number
  private readonly parentSpanId: string | undefined
  private readonly name: string
  private readonly kind: SpanKind
  private readonly sink: RingSink
  private readonly start: number
  private duration = 0
  private attributes: Record<string, AttributeValue> | undefined
  private attributeCount = 0
  private error: string | undefined
  private ended = false
  private header: string | undefined

  constructor (sink: RingSink, name: string, kind: SpanKind, traceId: string, spanId: string, flags: number, parentSpanId?: string, attributes?: Record<string, AttributeValue>) {
    this.sink = sink
    this.name = name.length > MAX_SPAN_NAME_CHARS ? name.slice(0, MAX_SPAN_NAME_CHARS) : name
    this.kind = kind
    this.traceId = traceId
    this.spanId = spanId
    this.flags = flags
    this.parentSpanId = parentSpanId
    this.start = now()
    if (attributes != null) {
      this.attributes = { ...attributes }
      for (const key in this.attributes) {
        const value = this.attributes[key]
        if (++this.attributeCount > MAX_SPAN_ATTRIBUTES) delete this.attributes[key]
        else if (typeof value === 'string' && value.length > MAX_ATTRIBUTE_VALUE_CHARS) this.attributes[key] = fitValue(value)
      }
      this.attributeCount = Math.min(this.attributeCount, MAX_SPAN_ATTRIBUTES)
    }
  }

  traceparent (): string {
    if (this.ended) return `00-${this.traceId}-${this.spanId}-${HEX_FLAGS[this.flags & 0xff]}`
    this.header ??= `00-${this.traceId}-${this.spanId}-${HEX_FLAGS[this.flags & 0xff]}`
    return this.header
  }

  setAttribute (key: string, value: AttributeValue): void {
    if (this.ended) return
    const attrs = this.attributes ??= {}
    if (!(key in attrs)) {
      if (this.attributeCount >= MAX_SPAN_ATTRIBUTES) return
      this.attributeCount++
    }
    attrs[key] = fitValue(value)
  }

  recordError (err: unknown): void {
    if (this.ended) return
    const text = err instanceof Error ? `${err.name}: ${err.message}` : String(err)
    this.error = text.slice(0, MAX_ATTRIBUTE_VALUE_CHARS)
  }

  end (): void {
    if (this.ended) return
    this.ended = true
    this.duration = now() - this.start
    this.header = undefined
    this.sink.add(this)
  }

  /** the finished span as `recentSpans()` returns it */
  toRecord (): SpanRecord {
    const record: SpanRecord = {
      traceId: this.traceId,
      spanId: this.spanId,
      name: this.name,
      peer: this.sink.peer,
      kind: this.kind,
      start: this.start,
      duration: this.duration,
      attributes: { ...this.attributes },
      status: this.error != null ? 'error' : 'unset'
    }
    if (this.parentSpanId != null) record.parentSpanId = this.parentSpanId
    if (this.error != null) record.error = this.error
    return record
  }
}
