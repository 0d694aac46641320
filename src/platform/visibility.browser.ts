/**
 * Page Visibility in a tab: `onChange(hidden)` when the tab is hidden or shown again (a hidden tab
 * is throttled by the browser, so it hands its agents off). Returns the function that stops watching.
 */
export function watchVisibility (onChange: (hidden: boolean) => void): () => void {
  if (typeof document === 'undefined') return () => {}
  const listener = (): void => { onChange(document.visibilityState === 'hidden') }
  document.addEventListener('visibilitychange', listener)
  if (document.visibilityState === 'hidden') queueMicrotask(listener)
  return () => { document.removeEventListener('visibilitychange', listener) }
}
