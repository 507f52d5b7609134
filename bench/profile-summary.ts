/**
 * `node bench/profile-summary.ts <file.cpuprofile> [top]`: the hottest frames of a V8 CPU profile
 * (from `npm run bench -- --cpu-prof`), by self time and by inclusive time, with file:line, so a
 * missed target can name the part of the pipeline that is responsible.
 */
import { readFileSync } from 'node:fs'
import path from 'node:path'

interface CallFrame {
  functionName: string
  url: string
  lineNumber: number
}
interface ProfileNode {
  id: number
  callFrame: CallFrame
  children?: number[]
}
interface CpuProfile {
  nodes: ProfileNode[]
  samples: number[]
  timeDeltas: number[]
  startTime: number
  endTime: number
}

export function summarizeProfile(file: string, top = 25) {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile
  const byId = new Map(profile.nodes.map((n) => [n.id, n]))
  const parent = new Map<number, number>()
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id)
  const selfUs = new Map<number, number>()
  profile.samples.forEach((id, i) => selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)))
  const root = process.cwd()
  const label = (f: CallFrame) => {
    const where = f.url ? `${path.relative(root, f.url.replace(/^file:\/\//, ''))}:${f.lineNumber + 1}` : ''
    return `${f.functionName || '(anonymous)'} ${where}`.trim()
  }
  const self = new Map<string, number>()
  const inclusive = new Map<string, number>()
  for (const [id, us] of selfUs) {
    const node = byId.get(id)!
    self.set(label(node.callFrame), (self.get(label(node.callFrame)) ?? 0) + us)
    // Inclusive: count each distinct frame once per sample stack.
    const seen = new Set<string>()
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const l = label(byId.get(cur)!.callFrame)
      if (seen.has(l)) continue
      seen.add(l)
      inclusive.set(l, (inclusive.get(l) ?? 0) + us)
    }
  }
  const total = [...selfUs.values()].reduce((a, b) => a + b, 0)
  const idle = self.get('(idle)') ?? 0
  const rank = (m: Map<string, number>) =>
    [...m.entries()]
      .filter(([l]) => !['(root)', '(idle)', '(program)'].includes(l))
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([frame, us]) => ({ frame, ms: Math.round(us / 1000), shareOfBusy: Math.round((us / Math.max(1, total - idle)) * 1000) / 10 }))
  // Tenure's own frames (src/, provisioners/, state-machines/): which part of the pipeline the time is under.
  const own = new Map([...inclusive].filter(([l]) => /^\S+ (src|provisioners|state-machines)\//.test(l)))
  return { totalMs: Math.round(total / 1000), idleMs: Math.round(idle / 1000), self: rank(self), inclusive: rank(inclusive), inclusiveOwn: rank(own) }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const file = process.argv[2]
  if (!file) {
    console.error('usage: node bench/profile-summary.ts <file.cpuprofile> [top]')
    process.exit(2)
  }
  const s = summarizeProfile(file, Number(process.argv[3] ?? 25))
  console.log(`total ${s.totalMs} ms, idle ${s.idleMs} ms`)
  console.log('\nself time (ms, % of busy):')
  for (const f of s.self) console.log(`  ${String(f.ms).padStart(6)}  ${String(f.shareOfBusy).padStart(5)}%  ${f.frame}`)
  console.log('\ninclusive time (ms, % of busy):')
  for (const f of s.inclusive) console.log(`  ${String(f.ms).padStart(6)}  ${String(f.shareOfBusy).padStart(5)}%  ${f.frame}`)
}
