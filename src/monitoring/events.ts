/**
 * EventTarget with typed `noun:verb` events carrying CustomEvent details, in the style of libp2p's
 * TypedEventEmitter (which lives in a package we do not depend on directly).
 */

export type EventHandler<E> = ((evt: E) => void) | { handleEvent: (evt: E) => void }

export class TypedEventEmitter<EventMap extends Record<string, unknown>> extends EventTarget {
  private readonly counts = new Map<string, number>()

  override addEventListener<K extends keyof EventMap & string> (type: K, listener: EventHandler<CustomEvent<EventMap[K]>> | null, options?: boolean | AddEventListenerOptions): void {
    super.addEventListener(type, listener as EventListenerOrEventListenerObject | null, options)
    if (listener != null) this.counts.set(type, (this.counts.get(type) ?? 0) + 1)
  }

  override removeEventListener<K extends keyof EventMap & string> (type: K, listener: EventHandler<CustomEvent<EventMap[K]>> | null, options?: boolean | EventListenerOptions): void {
    super.removeEventListener(type, listener as EventListenerOrEventListenerObject | null, options)
    if (listener != null) {
      const n = (this.counts.get(type) ?? 1) - 1
      if (n <= 0) this.counts.delete(type)
      else this.counts.set(type, n)
    }
  }

  /** an upper bound of the listeners registered for `type` (once-listeners are counted until removed) */
  listenerCount (type: keyof EventMap & string): number {
    return this.counts.get(type) ?? 0
  }

  /** dispatches a CustomEvent with `detail` */
  safeDispatchEvent<K extends keyof EventMap & string> (type: K, detail: EventMap[K]): boolean {
    return this.dispatchEvent(new CustomEvent<EventMap[K]>(type, { detail }))
  }
}
