import { For, createSignal } from 'solid-js'
import { render } from 'solid-js/web'
import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import * as model from '../../client/core/model.js'
import type { SpaceStatus } from '../../client/core/space.js'
import { useSpaceView } from '../../client/ui/bridge.js'
import { Checklist } from '../../client/ui/views/Checklist.js'
import { safeHref } from '../../client/ui/views/LinkItem.js'
import { SecurityPanel } from '../../client/ui/views/SecurityPanel.js'
import { SharePanel } from '../../client/ui/views/SharePanel.js'
import type { Freshness } from '../../client/core/freshness.js'
import { formatLink } from '../../shared/keys.js'
import { StatusBar } from '../../client/ui/views/StatusBar.js'
import { formatAge, formatTime } from '../../client/ui/format.js'
import type { Alert } from '../../client/core/space.js'

const tick = (): Promise<void> => new Promise(resolve => setTimeout(resolve, 0))

describe('views', () => {
  it('the status bar follows the session status', () => {
    const [status, setStatus] = createSignal<SpaceStatus>({ connection: 'connecting', unsynced: 0, caughtUp: false, lastSyncedAt: undefined })
    const host = document.createElement('div')
    const dispose = render(() => <StatusBar status={status()} role="leader" alerts={0} onSecurity={() => {}} />, host)
    expect(host.textContent).toContain('Connecting')
    setStatus({ connection: 'offline', unsynced: 3, caughtUp: false, lastSyncedAt: undefined })
    // The network is up and the connection is closed: the relay is the one that cannot be reached (issue 9.6).
    expect(host.querySelector('[data-testid=connection]')?.textContent).toBe('Relay unreachable')
    expect(host.querySelector('[data-testid=unsynced]')?.textContent).toBe('3 changes not yet on the relay')
    expect(host.querySelector('[data-testid=last-synced]')?.textContent).toBe('Last synced never')
    dispatchEvent(new Event('offline'))
    expect(host.querySelector('[data-testid=connection]')?.textContent).toBe('Offline: no network')
    dispatchEvent(new Event('online'))
    expect(host.querySelector('[data-testid=connection]')?.textContent).toBe('Relay unreachable')
    const synced = Date.now()
    setStatus({ connection: 'online', unsynced: 0, caughtUp: true, lastSyncedAt: synced })
    expect(host.querySelector('[data-testid=unsynced]')?.textContent).toBe('All changes on the relay')
    expect(host.querySelector('[data-testid=last-synced]')?.textContent).toBe(`Last synced ${new Date(synced).toLocaleTimeString()}`)
    dispose()
  })

  it('times: of day when today, with the date otherwise; ages in words', () => {
    const now = new Date(2026, 4, 20, 15, 0).getTime()
    expect(formatTime(now - 3600_000, now)).toBe(new Date(now - 3600_000).toLocaleTimeString())
    expect(formatTime(now - 3 * 86_400_000, now)).toBe(new Date(now - 3 * 86_400_000).toLocaleString())
    expect(formatTime(undefined, now)).toBe('never')
    expect([10_000, 300_000, 7_200_000, 5 * 86_400_000].map(d => formatAge(now - d, now))).toEqual(['just now', '5 min ago', '2 h ago', '5 days ago'])
  })

  it('a checklist writes ticks and entries to the doc and shows remote changes', async () => {
    const doc = new Y.Doc()
    const listId = model.addChecklist(doc, 'Packing')
    const host = document.createElement('div')
    document.body.append(host)
    const dispose = render(() => {
      const view = useSpaceView(doc)
      return <For each={view.items}>{item => <Checklist doc={doc} item={item} readOnly={false} />}</For>
    }, host)
    const input = host.querySelector<HTMLInputElement>('[data-testid=todo-input]')!
    input.value = 'Tent'
    input.dispatchEvent(new Event('input', { bubbles: true }))
    host.querySelector('form')!.dispatchEvent(new Event('submit', { bubbles: true, cancelable: true }))
    await tick()
    expect(model.toJSON(doc).items[0]).toMatchObject({ kind: 'checklist', entries: [{ text: 'Tent', done: false }] })
    expect(host.querySelectorAll('[data-testid=todo]')).toHaveLength(1)

    const box = host.querySelector<HTMLInputElement>('[data-testid=todo] input[type=checkbox]')!
    box.checked = true
    box.dispatchEvent(new Event('change', { bubbles: true }))
    expect(model.toJSON(doc).items[0]).toMatchObject({ entries: [{ done: true }] })

    // A change from elsewhere (another member) re-renders the list.
    const remote = new Y.Doc()
    Y.applyUpdate(remote, Y.encodeStateAsUpdate(doc))
    model.addTodo(remote, 'Stove', model.findItem(remote, listId))
    Y.applyUpdate(doc, Y.encodeStateAsUpdate(remote, Y.encodeStateVector(doc)), 'remote')
    await tick()
    expect([...host.querySelectorAll<HTMLInputElement>('.entry-text')].map(e => e.value)).toEqual(['Tent', 'Stove'])
    dispose()
    host.remove()
  })

  it('a read-only checklist offers no controls', () => {
    const doc = new Y.Doc()
    model.addTodo(doc, 'Tent')
    const host = document.createElement('div')
    const dispose = render(() => {
      const view = useSpaceView(doc)
      return <For each={view.items}>{item => <Checklist doc={doc} item={item} readOnly={true} />}</For>
    }, host)
    expect(host.querySelector('[data-testid=todo-input]')).toBeNull()
    expect(host.querySelector<HTMLInputElement>('input[type=checkbox]')!.disabled).toBe(true)
    dispose()
  })

  it('the security panel lists every alert in plain words, newest first', () => {
    const [alerts, setAlerts] = createSignal<readonly Alert[]>([])
    const host = document.createElement('div')
    const dispose = render(() => <SecurityPanel spaceCode="AAAA-BBBB-CCCC-DDDD" stateCode="EEEE-FFFF-GGGG" synced={true} readOnly={false} alerts={alerts()} />, host)
    expect(host.querySelector('[data-testid=no-alerts]')).not.toBeNull()
    expect(host.textContent).toContain('What the relay can see')
    setAlerts([
      { code: 'sync/chain-mismatch', message: 'seq 4 does not link', at: 1 },
      { code: 'envelope/bad-signature', message: 'device signature does not match', at: 2 }
    ])
    const items = [...host.querySelectorAll('[data-testid=alerts] li')].map(li => li.textContent ?? '')
    expect(items).toHaveLength(2)
    expect(items[0]).toContain('not signed by the device it claims')
    expect(items[1]).toContain('history was altered')
    expect(items[1]).toContain('sync/chain-mismatch')
    dispose()
  })

  it('the security panel says whether the invite link\'s checkpoint was reached, and a stale join in words (issue 8)', () => {
    const [fresh, setFresh] = createSignal<Freshness | undefined>({ state: 'unchecked', behind: 0, code: 'sync/freshness-unchecked' })
    const [alerts, setAlerts] = createSignal<readonly Alert[]>([])
    const host = document.createElement('div')
    const dispose = render(() => <SecurityPanel spaceCode="AAAA" stateCode="BBBB" synced={true} readOnly={false} alerts={alerts()} freshness={fresh()} />, host)
    const line = (): string | undefined => host.querySelector('[data-testid=checks] [data-testid=freshness]')?.textContent ?? undefined
    expect(line()).toMatch(/^Not checked: .*no checkpoint.*sync\/freshness-unchecked/)
    setFresh({ state: 'behind', behind: 3 })
    setAlerts([{ code: 'sync/stale-join', message: 'the relay served this device an older state', at: 1 }])
    expect(line()).toMatch(/^Not current: 3 change/)
    expect(host.querySelector('[data-testid=alerts] li')?.textContent).toMatch(/older version of the space than the invite link/)
    setFresh({ state: 'reached', behind: 0 })
    setAlerts([])
    expect(line()).toMatch(/^Checked: this device reached/)
    setFresh({ state: 'local', behind: 0 })
    expect(line()).toBeUndefined()
    dispose()
  })

  it('the share panel\'s links carry the checkpoint it is given', () => {
    const secrets = { spaceId: new Uint8Array(16).fill(1), epoch: 0, secret: new Uint8Array(32).fill(2), writePk: new Uint8Array(32).fill(3) }
    const checkpoint = { heads: [{ author: new Uint8Array(32).fill(4), stream: new Uint8Array(8).fill(5), seq: 7, hash: new Uint8Array(16).fill(6) }] }
    const host = document.createElement('div')
    const dispose = render(() => <SharePanel origin="https://cove.example" secrets={secrets} checkpoint={checkpoint} />, host)
    const view = host.querySelector<HTMLInputElement>('[data-testid=view-link]')!.value
    expect(view).toBe(formatLink('https://cove.example', secrets, 'view', checkpoint))
    expect(view.split('#')[1]!.split('.')).toHaveLength(3)
    dispose()
  })

  it('only http(s) links become clickable', () => {
    expect(safeHref('https://example.org/x')).toBe('https://example.org/x')
    expect(safeHref('javascript:alert(1)')).toBeUndefined()
    expect(safeHref('data:text/html,hi')).toBeUndefined()
    expect(safeHref('not a url')).toBeUndefined()
  })
})
