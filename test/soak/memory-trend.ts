/**
 * Memory trend of a long-lived process, from samples taken at random points of its GC cycle.
 * heapUsed saws up and down by many MB between collections, so a straight fit through raw samples
 * mostly measures where the samples fell in the saw. The smallest sample in a window before
 * each point (over a window longer than the saw) is close to what survived collection; the
 * least-squares slope of that floor over the second half of the run is the growth that warm-up
 * does not explain.
 */

export interface MemoryPoint {
  /** minutes since the process started being sampled */
  minute: number
  mb: number
}

export interface MemoryTrend {
  /** least-squares slope of the window floors, MB per minute; NaN with fewer than 2 floors */
  mbPerMin: number
  /** the lower envelope the slope was fitted to */
  floors: MemoryPoint[]
}

/** least-squares slope of mb over minute; NaN with fewer than two distinct minutes */
export function linearSlope (points: readonly MemoryPoint[]): number {
  const n = points.length
  if (n < 2) return NaN
  const mx = points.reduce((a, p) => a + p.minute, 0) / n
  const my = points.reduce((a, p) => a + p.mb, 0) / n
  let sxx = 0
  let sxy = 0
  for (const p of points) {
    sxx += (p.minute - mx) ** 2
    sxy += (p.minute - mx) * (p.mb - my)
  }
  return sxx === 0 ? NaN : sxy / sxx
}

/**
 * the lower envelope: each point replaced by the smallest sample of the `windowMin` minutes up to
 * it, so a saw shorter than the window becomes its floor (a steady rise keeps its slope, lagging
 * by the window)
 */
export function rollingFloor (points: readonly MemoryPoint[], windowMin: number): MemoryPoint[] {
  const sorted = points.filter(p => Number.isFinite(p.mb)).sort((a, b) => a.minute - b.minute)
  return sorted.map(p => ({
    minute: p.minute,
    mb: Math.min(...sorted.filter(q => q.minute <= p.minute && p.minute - q.minute <= windowMin).map(q => q.mb))
  }))
}

/**
 * the trend over the part of the series after `skipFraction` of its time span (warm-up), fitted
 * to its lower envelope
 */
export function memoryTrend (points: readonly MemoryPoint[], init: { windowMin?: number, skipFraction?: number } = {}): MemoryTrend {
  const windowMin = init.windowMin ?? 2
  const skip = init.skipFraction ?? 0.5
  const finite = points.filter(p => Number.isFinite(p.mb))
  if (finite.length === 0) return { mbPerMin: NaN, floors: [] }
  const start = Math.min(...finite.map(p => p.minute))
  const stop = Math.max(...finite.map(p => p.minute))
  const from = start + (stop - start) * skip
  // the envelope of the fitted part may look back into the skipped part
  const floors = rollingFloor(finite, windowMin).filter(p => p.minute >= from)
  return { mbPerMin: linearSlope(floors), floors }
}
