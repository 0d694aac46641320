/** JS heap in use by this tab, MB (Chromium's performance.memory; 0 where the browser hides it). */
export function residentMemoryMb (): number {
  const mem = (performance as unknown as { memory?: { usedJSHeapSize: number } }).memory
  return mem == null ? 0 : Math.round(mem.usedJSHeapSize / 1048576)
}
