/** Resident memory of this process, MB. */
export function residentMemoryMb (): number {
  return Math.round(process.memoryUsage().rss / 1048576)
}
