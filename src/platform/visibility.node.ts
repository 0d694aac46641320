/** Node processes are never hidden: nothing to watch. */
export function watchVisibility (_onChange: (hidden: boolean) => void): () => void {
  return () => {}
}
