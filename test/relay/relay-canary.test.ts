import fs from 'node:fs'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import type { Client } from '../../client/core/client.js'
import * as model from '../../client/core/model.js'
import { parseLink } from '../../shared/keys.js'
import { startTestRelay, testClient, waitFor } from '../support/relay.js'

/**
 * The relay learns nothing of the content (DESIGN.md §1): a canary written through real clients
 * into every kind of content field must not appear anywhere in the relay's data directory (the
 * SQLite file and its -wal/-shm, read as raw bytes) nor in its log lines, in any of the usual
 * encodings. The search itself is shown to work on the clients' plaintext state.
 */
const CANARY = 'CANARY-7f3a9c-SECRET'

/** Base64 text that any encoding of `bytes` must contain, for each of the 3 alignments of `bytes` in the input. */
function base64Needles (bytes: Buffer, alphabet: 'base64' | 'base64url'): string[] {
  const out: string[] = []
  for (let o = 0; o < 3; o++) {
    const enc = Buffer.concat([Buffer.alloc(o), bytes]).toString(alphabet)
    // Keep only the characters whose 6 bits all come from `bytes`.
    const first = Math.ceil((8 * o) / 6)
    const last = Math.floor((8 * (o + bytes.length)) / 6)
    out.push(enc.slice(first, last))
  }
  return out
}

interface Needle { readonly what: string; readonly bytes: Buffer }

function needles (canary: string): Needle[] {
  const raw = Buffer.from(canary, 'utf8')
  const list: Needle[] = [
    { what: 'utf-8', bytes: raw },
    { what: 'utf-16le', bytes: Buffer.from(canary, 'utf16le') },
    { what: 'hex', bytes: Buffer.from(raw.toString('hex'), 'latin1') },
    { what: 'HEX', bytes: Buffer.from(raw.toString('hex').toUpperCase(), 'latin1') }
  ]
  for (const alphabet of ['base64', 'base64url'] as const) {
    base64Needles(raw, alphabet).forEach((s, o) => list.push({ what: `${alphabet}@${o}`, bytes: Buffer.from(s, 'latin1') }))
  }
  return list
}

/** Every file under `dir` (recursively), with the encodings of the canary found in it. */
function search (dir: string, canary: string): Array<{ file: string; found: string[] }> {
  const hits: Array<{ file: string; found: string[] }> = []
  const walk = (d: string): void => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name)
      if (e.isDirectory()) { walk(p); continue }
      const data = fs.readFileSync(p)
      const found = needles(canary).filter(n => data.includes(n.bytes)).map(n => n.what)
      hits.push({ file: path.relative(dir, p), found })
    }
  }
  walk(dir)
  return hits
}

const clients: Client[] = []
afterAll(async () => {
  for (const c of clients.splice(0)) await c.close()
})

describe('the relay stores no plaintext', () => {
  it('a canary written in every content field is nowhere in the relay data directory or logs', async () => {
    const logs: string[] = []
    const relay = await startTestRelay({ log: l => logs.push(l) })
    let closed = false
    try {
      const a = await testClient()
      const b = await testClient()
      clients.push(a, b)
      const { space: sa, editLink } = await a.createSpace(relay.url, `Title ${CANARY} one`)
      model.addNote(sa.doc, `a note about ${CANARY} and more`)
      model.addLink(sa.doc, `https://example.com/${CANARY}/page?q=${CANARY}`, `link title ${CANARY}`, `link note ${CANARY}`)
      model.addTodo(sa.doc, `todo ${CANARY}`)
      await sa.whenStored(5000)
      // Another device edits too (its own stream), and reads everything back.
      const inv = parseLink(b.sodium, editLink)
      if (!inv.ok) throw new Error(inv.message)
      const sb = await b.openSpace(inv.value)
      await sb.whenCaughtUp(5000)
      const todo = model.addTodo(sb.doc, `second todo ${CANARY}`)
      model.setDone(sb.doc, todo)
      model.addNote(sb.doc, CANARY)
      await sb.whenStored(5000)
      await waitFor(() => model.toJSON(sa.doc).items.length === 4, 5000, 'b\'s note at a')
      expect(model.toJSON(sa.doc)).toEqual(model.toJSON(sb.doc))
      const json = JSON.stringify(model.toJSON(sb.doc))
      expect(json.split(CANARY).length - 1).toBe(9)

      const files = fs.readdirSync(relay.dir)
      expect(files).toContain('relay.sqlite')
      expect(files.some(f => f.endsWith('-wal'))).toBe(true)
      // The relay did store the writes: the data directory is not just empty.
      expect(fs.statSync(path.join(relay.dir, 'relay.sqlite-wal')).size + fs.statSync(path.join(relay.dir, 'relay.sqlite')).size).toBeGreaterThan(4096)

      // While running (WAL not yet checkpointed)...
      const live = search(relay.dir, CANARY)
      expect(live.map(h => h.file)).toEqual(expect.arrayContaining(['relay.sqlite', 'relay.sqlite-wal', 'relay.sqlite-shm']))
      expect(live.filter(h => h.found.length > 0)).toEqual([])
      // ...the relay's log lines...
      expect(needles(CANARY).filter(n => Buffer.from(logs.join('\n')).includes(n.bytes))).toEqual([])

      // The search works: the same search finds the canary in a client's plaintext state
      // (Y.encodeStateAsUpdate, what a client persists) once that is in the directory, and finds
      // each encoding of it, at each base64 alignment.
      const probe = path.join(relay.dir, 'probe-client-state.bin')
      const found = (bytes: Buffer | string): string[] => {
        fs.writeFileSync(probe, bytes)
        try {
          return search(relay.dir, CANARY).find(h => h.file === path.basename(probe))?.found ?? []
        } finally {
          fs.rmSync(probe)
        }
      }
      const state = Buffer.from(Y.encodeStateAsUpdate(sa.doc))
      expect(found(state)).toContain('utf-8')
      expect(found(state.toString('hex'))).toContain('hex')
      expect(found(state.toString('hex').toUpperCase())).toContain('HEX')
      expect(found(Buffer.from(json, 'utf16le'))).toContain('utf-16le')
      for (const alphabet of ['base64', 'base64url'] as const) {
        const aligned = new Set<string>()
        for (let o = 0; o < 3; o++) {
          // The canary alone at each offset: exactly that alignment's needle matches.
          expect(found(Buffer.concat([Buffer.alloc(o, 0x41), Buffer.from(CANARY)]).toString(alphabet)).filter(x => x.startsWith(`${alphabet}@`))).toEqual([`${alphabet}@${o}`])
          // The whole state shifted by o bytes: some alignment matches every time.
          const hits = found(Buffer.concat([Buffer.alloc(o, 0x41), state]).toString(alphabet)).filter(x => x.startsWith(`${alphabet}@`))
          expect(hits.length).toBeGreaterThan(0)
          for (const h of hits) aligned.add(h)
        }
        expect([...aligned].sort()).toEqual([0, 1, 2].map(o => `${alphabet}@${o}`))
      }
      expect(search(relay.dir, CANARY).filter(h => h.found.length > 0)).toEqual([])

      // ...and after the relay closed (WAL checkpointed into the main file).
      await relay.close()
      closed = true
      const after = search(relay.dir, CANARY)
      expect(after.length).toBeGreaterThanOrEqual(1)
      expect(after.filter(h => h.found.length > 0)).toEqual([])
    } finally {
      if (!closed) await relay.close()
    }
  })
})
