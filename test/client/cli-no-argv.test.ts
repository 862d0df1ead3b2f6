import fs from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import type { SpaceJSON } from '../../client/core/model.js'
import { cove, useCliWorld } from '../support/cli.js'
import { tempDir } from '../support/relay.js'

/**
 * Issue 11, part 4: after a space is opened once, commands name it by id or alias, and a link can
 * come from stdin or an environment variable, so no secret needs to be in argv (ps, shell history).
 */
const w = useCliWorld('cove-noargv-relay-', tempDir)

describe('cove without secrets in argv', () => {
  it('create --as, then commands by alias and by id; open from stdin and from env:', async () => {
    const a = w.dir('cove-noargv-a-')
    const made = await cove(w.cli, a, ['create', '--relay', w.relay.url, '--title', 'Trip', '--as', 'trip'])
    expect(made.code, made.stderr).toBe(0)
    const id = /^space: ([0-9a-f]{32})/m.exec(made.stdout)![1]!
    const edit = /^edit link: (\S+)$/m.exec(made.stdout)![1]!
    const view = /^view link: (\S+)$/m.exec(made.stdout)![1]!
    // The registry holds the link (0600), like the journals beside it.
    expect(fs.statSync(path.join(a, 'spaces.json')).mode & 0o077).toBe(0)

    const n = await cove(w.cli, a, ['add-note', 'trip', 'Bring the tent'])
    expect(n.code, n.stderr).toBe(0)
    expect(n.stderr).not.toMatch(/ps and shell history/)
    const t = await cove(w.cli, a, ['add-todo', id, 'Buy gas'])
    expect(t.code, t.stderr).toBe(0)
    const prefix = await cove(w.cli, a, ['add-todo', id.slice(0, 8), 'Maps'])
    expect(prefix.code, prefix.stderr).toBe(0)

    // Device B: the edit link on stdin, an alias of its own.
    const b = w.dir('cove-noargv-b-')
    const opened = await cove(w.cli, b, ['open', '-', '--as', 'lake'], { stdin: edit + '\n' })
    expect(opened.code, opened.stderr).toBe(0)
    expect(opened.stdout).toContain(`space: ${id} (here: lake) edit`)
    const cat = await cove(w.cli, b, ['cat', 'lake'])
    expect(cat.code, cat.stderr).toBe(0)
    const json = JSON.parse(cat.stdout) as SpaceJSON
    expect(json.title).toBe('Trip')
    expect(json.items.some(i => i.kind === 'note' && i.text === 'Bring the tent')).toBe(true)

    // Device C: the view link from an environment variable; `spaces` says view.
    const c = w.dir('cove-noargv-c-')
    const fromEnv = await cove(w.cli, c, ['cat', 'env:TRIP_LINK', '--as', 'trip'], { env: { TRIP_LINK: view } })
    expect(fromEnv.code, fromEnv.stderr).toBe(0)
    const spaces = await cove(w.cli, c, ['spaces'])
    expect(spaces.stdout.trim()).toBe(`${id}\ttrip\tview`)
    const refused = await cove(w.cli, c, ['add-note', 'trip', 'x'])
    expect(refused.code).toBe(77)

    // A link typed in argv still works, with a note saying where it shows.
    const typed = await cove(w.cli, w.dir('cove-noargv-d-'), ['cat', view])
    expect(typed.code, typed.stderr).toBe(0)
    expect(typed.stderr).toMatch(/ps and shell history/)

    const unknown = await cove(w.cli, a, ['cat', 'nowhere'])
    expect(unknown.code).toBe(66)
    expect(unknown.stderr).toMatch(/no space known here as "nowhere"/)
    const both = await cove(w.cli, b, ['add-note', '-', '-'], { stdin: edit })
    expect(both.code).toBe(64)
  }, 120_000)
})

describe('cove members', () => {
  it('lists editors and viewers with name, role, last seen and this device, as text and as JSON', async () => {
    const a = w.dir('cove-members-a-')
    const made = await cove(w.cli, a, ['create', '--relay', w.relay.url, '--as', 'm'], { env: { COVE_NAME: 'Ann' } })
    expect(made.code, made.stderr).toBe(0)
    const view = /^view link: (\S+)$/m.exec(made.stdout)![1]!
    const v = w.dir('cove-members-v-')
    const opened = await cove(w.cli, v, ['open', 'env:', '--as', 'm'], { env: { COVE_LINK: view, COVE_NAME: 'Vic', COVE_COLOUR: '4' } })
    expect(opened.code, opened.stderr).toBe(0)
    const r = await cove(w.cli, a, ['members', 'm', '--json'], { env: { COVE_NAME: 'Ann' } })
    expect(r.code, r.stderr).toBe(0)
    const list = JSON.parse(r.stdout) as Array<{ device: string; name: string; role: string; lastSeen: number | null; self: boolean; colour: number }>
    expect(list.map(m => [m.name, m.role, m.self])).toEqual([['Ann', 'edit', true], ['Vic', 'view', false]])
    expect(list[1]!.device).toMatch(/^[0-9a-f]{64}$/)
    expect(list[1]!.colour).toBe(4)
    expect(list[1]!.lastSeen).toBeGreaterThan(Date.now() - 60_000)
    const text = await cove(w.cli, v, ['members', 'm'], { env: { COVE_NAME: 'Vic' } })
    expect(text.code, text.stderr).toBe(0)
    expect(text.stdout).toMatch(/\tVic\tview\t\S+\tthis device\n/)
    expect(text.stdout).toMatch(/\tAnn\tedit\t/)
  }, 60_000)
})
