/**
 * OTLP/HTTP span export, loaded on demand: the exporter and its encoders are about 150 kB
 * minified, which a browser tab should only pay for when an endpoint is configured. Spans that end
 * while the module loads are held (bounded) and handed over once it is there.
 */
import { BatchSpanProcessor } from '@opentelemetry/sdk-trace-base'
import type { ReadableSpan, SpanProcessor } from '@opentelemetry/sdk-trace-base'
import type { Logger } from '../util/logger.ts'
import { MAX_PENDING_EXPORT_SPANS } from './constants.ts'

export interface OtlpExportInit {
  url: string
  headers?: Record<string, string>
  log: Logger
}

export class LazyOtlpProcessor implements SpanProcessor {
  private inner?: SpanProcessor
  private pending: ReadableSpan[] = []
  private failed = false
  private readonly loading: Promise<void>

  constructor (init: OtlpExportInit) {
    this.loading = import('@opentelemetry/exporter-trace-otlp-http')
      .then(({ OTLPTraceExporter }) => {
        const inner = new BatchSpanProcessor(new OTLPTraceExporter({ url: init.url, headers: init.headers ?? {} }))
        for (const span of this.pending) inner.onEnd(span)
        this.pending = []
        this.inner = inner
      })
      .catch((err: unknown) => {
        this.failed = true
        this.pending = []
        init.log.error('OTLP exporter could not be loaded; spans are not exported: %e', err)
      })
  }

  onStart (): void {}

  onEnd (span: ReadableSpan): void {
    if (this.inner != null) this.inner.onEnd(span)
    else if (!this.failed && this.pending.length < MAX_PENDING_EXPORT_SPANS) this.pending.push(span)
  }

  async forceFlush (): Promise<void> {
    await this.loading
    await this.inner?.forceFlush()
  }

  async shutdown (): Promise<void> {
    await this.loading
    await this.inner?.shutdown()
  }
}
