import { describe, expect, it } from 'vitest'
import type { SpaceJSON } from '../../client/core/model.js'
import { cove, useCliWorld } from '../support/cli.js'
import { tempDir } from '../support/relay.js'

/**
 * Issue 11 with real processes: a relay child and one `cove` process per command, each device its
 * own COVE_HOME. Three editors and a viewer; one editor is removed with `cove remove`. The others
 * go on by alias without a new link (each command follows the key change), the removed one is
 * refused and told, and the old links open nothing new.
 */
const w = useCliWorld('cove-rot-relay-', tempDir)

const notes = (out: string): string[] => (JSON.parse(out) as SpaceJSON).items.flatMap(i => i.kind === 'note' ? [i.text] : []).sort()

describe('cove remove', () => {
  it('removes an editor: the others continue by alias, the removed one is refused, old links open nothing new', async () => {
    const [a, b, c, v] = [w.dir('cove-rot-a-'), w.dir('cove-rot-b-'), w.dir('cove-rot-c-'), w.dir('cove-rot-v-')]
    const made = await cove(w.cli, a, ['create', '--relay', w.relay.url, '--as', 't'], { env: { COVE_NAME: 'Ann' } })
    expect(made.code, made.stderr).toBe(0)
    const edit = /^edit link: (\S+)$/m.exec(made.stdout)![1]!
    const view = /^view link: (\S+)$/m.exec(made.stdout)![1]!
    for (const [home, link, nm] of [[b, edit, 'Bob'], [c, edit, 'Cat'], [v, view, 'Vic']] as const) {
      const r = await cove(w.cli, home, ['open', '-', '--as', 't'], { stdin: link, env: { COVE_NAME: nm } })
      expect(r.code, r.stderr).toBe(0)
    }
    expect((await cove(w.cli, a, ['add-note', 't', 'before'])).code).toBe(0)
    const members = await cove(w.cli, a, ['members', 't', '--json'])
    const cat = (JSON.parse(members.stdout) as Array<{ name: string; device: string }>).find(m => m.name === 'Cat')!
    expect(cat).toBeDefined()

    const removed = await cove(w.cli, a, ['remove', 't', cat.device.slice(0, 12)])
    expect(removed.code, removed.stderr).toBe(0)
    expect(removed.stderr).toMatch(/moved to epoch 1/)
    const newView = /^view link: (\S+)$/m.exec(removed.stdout)![1]!
    expect(newView).not.toBe(view)

    // B goes on by its alias: its command follows the key change into epoch 1.
    const after = await cove(w.cli, b, ['add-note', 't', 'after'])
    expect(after.code, after.stderr).toBe(0)
    const vcat = await cove(w.cli, v, ['cat', 't'])
    expect(vcat.code, vcat.stderr).toBe(0)
    expect(notes(vcat.stdout)).toEqual(['after', 'before'])

    // C is refused and told; its note stays on its device only.
    const cnote = await cove(w.cli, c, ['add-note', 't', 'from Cat'])
    expect(cnote.code).toBe(69)
    expect(cnote.stderr).toMatch(/You were removed from this space/)
    const acat = await cove(w.cli, a, ['cat', 't'])
    expect(notes(acat.stdout)).toEqual(['after', 'before'])

    // The old links open nothing new; the new one does.
    const stale = await cove(w.cli, w.dir('cove-rot-x-'), ['cat', 'env:'], { env: { COVE_LINK: view } })
    expect(stale.code).toBe(69)
    expect(stale.stderr).toMatch(/this link was replaced; ask a member for a new one/)
    const fresh = await cove(w.cli, w.dir('cove-rot-y-'), ['cat', 'env:'], { env: { COVE_LINK: newView } })
    expect(fresh.code, fresh.stderr).toBe(0)
    expect(notes(fresh.stdout)).toEqual(['after', 'before'])
  }, 120_000)
})
