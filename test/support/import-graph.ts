import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

/**
 * A static import-graph walker for the "the relay imports no Yjs and no sealing code" test
 * (test/relay/imports.test.ts): follows relative imports between project .ts files and collects
 * the bare specifiers (packages, node: builtins) reached.
 */
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')

export interface Graph {
  /** Project files reached, relative to the repository root (e.g. `relay/core.ts`). */
  readonly files: Set<string>
  /** Bare specifiers reached (packages and `node:` builtins), with the file that imports each. */
  readonly packages: Map<string, string[]>
}

// Every form of static module reference in a .ts file: `import … from 'x'`, `import 'x'`,
// `export … from 'x'` and `import('x')`. Whole-statement `import type` / `export type` are erased by
// TypeScript (verbatimModuleSyntax) and load nothing at run time, so they are not edges.
const STATIC = /(^|[;\s])(import|export)\s+(type\s+)?([^'";]*?\sfrom\s+)?['"]([^'"]+)['"]/gm
const DYNAMIC = /\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)/g

function stripComments (src: string): string {
  return src.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:'"\\])\/\/.*$/gm, '$1')
}

export function specifiers (src: string): string[] {
  const code = stripComments(src)
  const out: string[] = []
  for (const m of code.matchAll(STATIC)) {
    const typeOnly = m[3] !== undefined && m[4] !== undefined
    if (!typeOnly) out.push(m[5]!)
  }
  for (const m of code.matchAll(DYNAMIC)) out.push(m[1]!)
  return out
}

function resolveRelative (from: string, spec: string): string {
  const base = path.resolve(path.dirname(from), spec)
  const candidates = [base, base.replace(/\.js$/, '.ts'), base.replace(/\.mjs$/, '.mts'), `${base}.ts`, path.join(base, 'index.ts')]
  const hit = candidates.find(c => fs.existsSync(c) && fs.statSync(c).isFile())
  if (hit === undefined) throw new Error(`cannot resolve ${spec} from ${path.relative(ROOT, from)}`)
  return hit
}

export function importGraph (entry: string): Graph {
  const files = new Set<string>()
  const packages = new Map<string, string[]>()
  const todo = [path.resolve(ROOT, entry)]
  while (todo.length > 0) {
    const file = todo.pop()!
    const rel = path.relative(ROOT, file).split(path.sep).join('/')
    if (files.has(rel)) continue
    files.add(rel)
    for (const spec of specifiers(fs.readFileSync(file, 'utf8'))) {
      if (spec.startsWith('.') || spec.startsWith('/')) {
        todo.push(resolveRelative(file, spec))
      } else {
        const list = packages.get(spec) ?? []
        list.push(rel)
        packages.set(spec, list)
      }
    }
  }
  return { files, packages }
}

const FORBIDDEN_FILES = ['shared/envelope.ts', 'shared/aead.ts', 'shared/pad.ts']

/** What the relay must not reach; empty when the graph is clean. */
export function violations (g: Graph): string[] {
  const out: string[] = []
  for (const [spec, from] of g.packages) {
    const pkg = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!
    if (pkg === 'yjs' || pkg === 'y-protocols' || pkg.startsWith('@y/') || pkg.startsWith('y-')) out.push(`${spec} (from ${from.join(', ')})`)
    else if (pkg === 'lib0' && spec !== 'lib0/encoding') out.push(`${spec} (from ${from.join(', ')})`)
  }
  for (const f of FORBIDDEN_FILES) if (g.files.has(f)) out.push(f)
  return out
}
