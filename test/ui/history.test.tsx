import { createSignal } from 'solid-js'
import { render } from 'solid-js/web'
import { afterEach, describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import * as model from '../../client/core/model.js'
import type { SnapshotInfo, SpaceStatus } from '../../client/core/space.js'
import * as trash from '../../client/core/trash.js'
import type { LabelledPeer } from '../../client/ui/peer-labels.js'
import type { SpaceSession } from '../../client/ui/session.js'
import { clearToasts } from '../../client/ui/toasts.js'
import { HistoryPanel } from '../../client/ui/views/HistoryPanel.js'
import { Toasts } from '../../client/ui/views/Toasts.js'

const tick = (ms = 0): Promise<void> => new Promise(resolve => setTimeout(resolve, ms))
const click = (el: Element | null | undefined): void => { (el as HTMLElement).click() }
const ME = 'aa'.repeat(32)
const BOB = 'bb'.repeat(32)
const STRANGER = 'cc'.repeat(32)

function snap (seq: number, author: string, doc: Y.Doc, verdict?: 'good' | 'bad'): SnapshotInfo {
  return { id: seq, seq, author, verdict, createdAt: Date.UTC(2026, 0, 1, 10, seq), covers: seq, bytes: 100, state: Y.encodeStateAsUpdateV2(doc) }
}

/** Just what the History panel reads of a session: status, device, history(), snapshot(). */
function fakeSession (opts: { readOnly: boolean; online: boolean; snaps: () => SnapshotInfo[] }) {
  const [connection, setConnection] = createSignal<SpaceStatus['connection']>(opts.online ? 'online' : 'offline')
  let asked = 0
  const session = {
    readOnly: opts.readOnly,
    status: () => ({ connection: connection(), unsynced: 0, caughtUp: true, lastSyncedAt: undefined }),
    device: () => ME,
    history: async () => {
      asked++
      if (connection() !== 'online') throw new Error('sync/offline: not connected to the relay')
      return opts.snaps()
    },
    snapshot: async () => 'stored' as const
  } as unknown as SpaceSession
  return { session, setConnection, asked: () => asked }
}

function mount (session: SpaceSession, doc: Y.Doc, peers: LabelledPeer[] = []): { host: HTMLElement; dispose: () => void } {
  const host = document.createElement('div')
  document.body.append(host)
  const dispose = render(() => <><HistoryPanel session={session} doc={doc} peers={peers} /><Toasts /></>, host)
  return { host, dispose: () => { dispose(); host.remove() } }
}

const bob = { device: BOB, label: { text: 'Bob' } } as unknown as LabelledPeer

describe('History panel', () => {
  afterEach(() => { clearToasts() })

  it('says plainly when the relay cannot be reached, and lists the snapshots once it can', async () => {
    const live = new Y.Doc()
    model.addNote(live, 'one')
    const at1 = new Y.Doc()
    Y.applyUpdate(at1, Y.encodeStateAsUpdate(live))
    model.addNote(live, 'two')
    const { session, setConnection, asked } = fakeSession({ readOnly: false, online: false, snaps: () => [snap(0, STRANGER, at1), snap(1, ME, live), snap(2, BOB, live, 'bad')] })
    const { host, dispose } = mount(session, live, [bob])
    await tick()
    expect(host.querySelector('[data-testid=history-unreachable]')?.textContent).toBe('History lives on the relay; it can\'t be reached now.')
    expect(host.querySelectorAll('[data-testid=history-row]')).toHaveLength(0)
    expect(asked()).toBe(0)
    setConnection('online')
    await tick()
    const rows = [...host.querySelectorAll<HTMLButtonElement>('[data-testid=history-row]')]
    expect(rows.map(r => r.textContent)).toEqual([
      expect.stringMatching(/#2 · by Bob · unreadable.*does not match what the members wrote/),
      expect.stringContaining('#1 · by this device · 2 items'),
      expect.stringMatching(/#0 · by device [0-9A-Z]{4}-[0-9A-Z]{4} · 1 item$/)
    ])
    expect(host.querySelector('[data-testid=history-unreachable]')).toBeNull()
    // A snapshot this device judged a lie cannot be opened.
    expect(rows[0]!.disabled).toBe(true)
    click(rows[2])
    await tick()
    expect([...host.querySelectorAll('[data-testid=history-note-text]')].map(e => e.textContent)).toEqual(['one'])
    dispose()
  })

  it('an editor restores a note\'s text and a trashed checklist, with Undo; a viewer gets no buttons', async () => {
    const live = new Y.Doc()
    model.setTitle(live, 'Camping')
    const list = model.addChecklist(live, 'Trip')
    model.setDone(live, model.addTodo(live, 'tent', model.findItem(live, list)))
    const note = model.addNote(live, 'Bring the tent')
    const old = new Y.Doc()
    Y.applyUpdate(old, Y.encodeStateAsUpdate(live))
    model.setText(model.findItem(live, note)!.get('text') as Y.Text, 'Bring nothing')
    trash.trashItem(live, list, 'Alice')
    const snaps = (): SnapshotInfo[] => [snap(0, ME, old)]

    const viewer = mount(fakeSession({ readOnly: true, online: true, snaps }).session, live)
    await tick()
    click(viewer.host.querySelector('[data-testid=history-row]'))
    await tick()
    expect(viewer.host.querySelector('[data-testid=history-as-of]')?.textContent).toMatch(/^As of /)
    expect(viewer.host.querySelectorAll('[data-testid=history-item]')).toHaveLength(2)
    expect(viewer.host.querySelectorAll('button[data-testid^=history-restore], [data-testid=history-seal]')).toHaveLength(0)
    viewer.dispose()

    const { host, dispose } = mount(fakeSession({ readOnly: false, online: true, snaps }).session, live)
    await tick()
    click(host.querySelector('[data-testid=history-row]'))
    await tick()
    const item = (kind: string): Element => host.querySelector(`[data-testid=history-item][data-kind=${kind}]`)!
    expect(item('note').querySelector('[data-testid=history-standing]')?.textContent).toBe('Changed since')
    expect(item('checklist').querySelector('[data-testid=history-standing]')?.textContent).toBe('In the Trash now')
    expect([...item('checklist').querySelectorAll('[data-testid=history-entry]')].map(e => e.getAttribute('data-done'))).toEqual(['true'])
    const restoreNote = item('note').querySelector<HTMLButtonElement>('[data-testid=history-restore]')!
    expect(restoreNote.textContent).toBe('Restore this text')
    click(restoreNote)
    click(item('checklist').querySelector('[data-testid=history-restore]'))
    expect(model.toJSON(live).items.map(i => i.kind === 'note' ? i.text : i.kind)).toEqual(['Bring the tent', 'checklist'])
    await tick(200)
    expect(host.querySelectorAll('[data-testid=history-restore]')).toHaveLength(0)
    // The checklist's toast is the newest: its Undo puts it back in the Trash, the note stays restored.
    const toasts = [...host.querySelectorAll('[data-testid=toast]')]
    expect(toasts.map(t => t.textContent)).toEqual([expect.stringContaining('Restored “Bring the tent”'), expect.stringContaining('Restored “Trip”')])
    click([...toasts[1]!.querySelectorAll('button')].find(b => b.textContent === 'Undo'))
    expect(model.toJSON(live).items.map(i => i.kind === 'note' ? i.text : i.kind)).toEqual(['Bring the tent'])
    expect(trash.list(live).map(t => t.id)).toEqual([list])
    dispose()
  })
})
