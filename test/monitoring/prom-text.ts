/**
 * A strict little parser of the Prometheus text exposition format (0.0.4), for tests: every line
 * must be a HELP/TYPE comment, a sample, or blank; a sample's family must have been typed first.
 */
export interface PromSample { name: string, labels: Record<string, string>, value: number }
export interface PromFamily { name: string, help?: string, type?: string, samples: PromSample[] }

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)(\s+-?\d+)?$/
const LABEL = /\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*(,|$)/y

function parseLabels (text: string): Record<string, string> {
  const out: Record<string, string> = {}
  LABEL.lastIndex = 0
  while (LABEL.lastIndex < text.length) {
    const start = LABEL.lastIndex
    const m = LABEL.exec(text)
    if (m == null) throw new Error(`bad labels at ${start}: ${text}`)
    out[m[1]] = m[2].replace(/\\n/g, '\n').replace(/\\"/g, '"').replace(/\\\\/g, '\\')
    if (m[3] === '') break
  }
  return out
}

function parseValue (s: string): number {
  if (s === '+Inf') return Infinity
  if (s === '-Inf') return -Infinity
  if (s === 'NaN') return NaN
  const v = Number(s)
  if (Number.isNaN(v)) throw new Error(`bad value ${s}`)
  return v
}

export function parsePromText (text: string): Map<string, PromFamily> {
  const families = new Map<string, PromFamily>()
  const family = (name: string): PromFamily => {
    let f = families.get(name)
    if (f == null) { f = { name, samples: [] }; families.set(name, f) }
    return f
  }
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue
    if (line.startsWith('#')) {
      const m = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) ?(.*)$/.exec(line)
      if (m == null) continue // other comments are allowed
      if (m[1] === 'HELP') family(m[2]).help = m[3]
      else {
        if (!['counter', 'gauge', 'histogram', 'summary', 'untyped'].includes(m[3])) throw new Error(`bad type: ${line}`)
        family(m[2]).type = m[3]
      }
      continue
    }
    const m = SAMPLE.exec(line)
    if (m == null) throw new Error(`bad sample line: ${line}`)
    const name = m[1]
    const base = [...families.keys()].find(f => name === f || ((families.get(f)!.type === 'histogram' || families.get(f)!.type === 'summary') && /^(_bucket|_sum|_count)$/.test(name.slice(f.length)) && name.startsWith(f)))
    if (base == null || families.get(base)!.type == null) throw new Error(`sample before its TYPE: ${line}`)
    families.get(base)!.samples.push({ name, labels: m[3] != null ? parseLabels(m[3]) : {}, value: parseValue(m[4]) })
  }
  return families
}

/** the value of one sample by its exact name and labels, or undefined */
export function sampleValue (families: Map<string, PromFamily>, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const f of families.values()) {
    for (const s of f.samples) {
      if (s.name !== name) continue
      const keys = Object.keys(s.labels)
      if (keys.length === Object.keys(labels).length && keys.every(k => s.labels[k] === labels[k])) return s.value
    }
  }
  return undefined
}
