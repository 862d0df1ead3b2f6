import { describe, expect, it } from 'vitest'
import { importGraph, specifiers, violations } from '../support/import-graph.js'

/**
 * The relay imports no Yjs and has no way to decrypt (DESIGN.md §9): walk the static import graph
 * from the relay's entry point and check that neither Yjs (nor its protocol helpers) nor the
 * sealing code (envelope, AEAD, padding) is reachable. Only `lib0/encoding` is allowed from lib0:
 * frames are written with it.
 */
describe('relay import graph', () => {
  it('the parser sees every form of import and skips type-only ones', () => {
    const src = [
      "import * as Y from 'yjs'",
      "import { a, type B } from './a.js'",
      "import type { C } from './types-only.js'",
      "export { d } from './d.js'",
      "export * from './e.js'",
      "export type { F } from './types-only-2.js'",
      "import './side-effect.js'",
      'import {',
      '  g,',
      '  h',
      "} from 'lib0/decoding'",
      "const m = await import('./lazy.js')",
      "// import x from 'commented-out'",
      "/* import y from 'block-commented' */"
    ].join('\n')
    expect(specifiers(src).sort()).toEqual(['./a.js', './d.js', './e.js', './lazy.js', './side-effect.js', 'lib0/decoding', 'yjs'].sort())
  })

  it('relay/main.ts reaches no Yjs, no lib0 beyond lib0/encoding, and no sealing code', () => {
    const g = importGraph('relay/main.ts')
    // The walk did follow the relay: its core, server, storage and the shared code it needs.
    for (const f of ['relay/main.ts', 'relay/server.ts', 'relay/core.ts', 'relay/storage/sqlite.ts', 'shared/frame.ts', 'shared/header.ts', 'shared/sign.ts']) {
      expect(g.files, f).toContain(f)
    }
    expect([...g.packages.keys()]).toContain('ws')
    expect([...g.packages.keys()]).toContain('lib0/encoding')
    expect(violations(g)).toEqual([])
    // No client code either.
    expect([...g.files].filter(f => f.startsWith('client/'))).toEqual([])
  })

  it('the same check catches Yjs and the sealing code where they are imported (client/core/space.ts)', () => {
    const g = importGraph('client/core/space.ts')
    const v = violations(g)
    expect(v.some(x => x.startsWith('yjs '))).toBe(true)
    expect(v).toContain('shared/envelope.ts')
    expect(v).toContain('shared/aead.ts')
    expect(v).toContain('shared/pad.ts')
    expect(v.some(x => x.startsWith('lib0/decoding '))).toBe(true)
  })
})
