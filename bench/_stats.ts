/** Small helpers shared by the benchmarks. */
export function percentile (values: number[], p: number): number {
  if (values.length === 0) return NaN
  const sorted = [...values].sort((a, b) => a - b)
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))
  return sorted[i]
}

/** the middle value; with an even count, the mean of the two middle ones */
export function median (values: number[]): number {
  if (values.length === 0) return NaN
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
}

export function fmt (n: number, digits = 0): string {
  return Number.isFinite(n) ? n.toFixed(digits) : '–'
}

/** prints rows as an aligned table */
export function table (header: string[], rows: Array<Array<string | number>>): void {
  const cells = [header, ...rows.map(r => r.map(String))]
  const widths = header.map((_, i) => Math.max(...cells.map(r => (r[i] ?? '').length)))
  for (const [n, r] of cells.entries()) {
    console.log(r.map((c, i) => c.padEnd(widths[i])).join('  '))
    if (n === 0) console.log(widths.map(w => '-'.repeat(w)).join('  '))
  }
}
