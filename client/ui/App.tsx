import { For, Match, Show, Switch, createEffect, createResource, createSignal, on, onCleanup } from 'solid-js'
import type * as Y from 'yjs'
import { fromB64u, fromHex, toHex } from '../../shared/bytes.js'
import { formatLink, newSpaceSecrets, parseLink, relayWsUrl } from '../../shared/keys.js'
import { getSodium, type Sodium } from '../../shared/sodium.js'
import { decryptBlob, downloadFile, type BlobKeys } from '../core/files.js'
import { createIdbLocalFileStore } from '../core/idb-local-files.js'
import { deleteSpaceDb } from '../core/idb-store.js'
import { RelayLink } from '../core/link.js'
import * as model from '../core/model.js'
import { createWsTransport, type WebSocketCtor } from '../core/ws-transport.js'
import { exportMarkdown, noteFileNames } from '../core/note-export.js'
import { zipStore, type ZipEntry } from '../core/zip.js'
import { dismiss, errors, report } from './errors.js'
import { exportNote, openForExport, type ExportCopy } from './export-sync.js'
import { profile } from './profile.js'
import * as registry from './registry.js'
import { go, isInvite, listen, route } from './router.js'
import { forget as forgetSearch } from './search-spaces.js'
import { openSession, type SpaceSession } from './session.js'
import * as shortcuts from './shortcuts.js'
import { ProfileEditor } from './views/ProfileEditor.js'
import { QuickSwitcher } from './views/QuickSwitcher.js'
import { ShortcutsHelp } from './views/ShortcutsHelp.js'
import { Sidebar } from './views/Sidebar.js'
import { SpaceList } from './views/SpaceList.js'
import { SpacePage } from './views/SpacePage.js'

/**
 * The app shell: reads an invite from the fragment (and wipes it from the address bar before
 * anything else runs), keeps the list of joined spaces, and opens one space session at a time.
 */

// Taken before the first render: the key must not linger in the address bar or history.
const bootHash = typeof location === 'undefined' ? '' : location.hash
if (isInvite(bootHash)) history.replaceState(null, '', `${location.pathname}#/`)

interface Env { readonly sodium: Sodium; readonly link: RelayLink; readonly origin: string }

async function boot (): Promise<Env> {
  const sodium = await getSodium()
  const origin = location.origin
  // Short backoff cap: a person waiting on "Relay unreachable" should see it come back within seconds.
  const link = new RelayLink(relayWsUrl(origin), createWsTransport(WebSocket as unknown as WebSocketCtor), { backoffBaseMs: 250, backoffMaxMs: 3000 })
  // The browser knows before the socket does: drop it at once so the status says "no network".
  addEventListener('offline', () => link.reconnect())
  return { sodium, link, origin }
}

function downloadBlob (name: string, blob: Blob): void {
  const url = URL.createObjectURL(blob)
  const a = document.createElement('a')
  a.href = url
  a.download = name
  document.body.append(a)
  a.click()
  a.remove()
  setTimeout(() => URL.revokeObjectURL(url), 60_000)
}

const SYNCING = 'Syncing with the relay before export…'

const fileName = (title: string): string => `${(title || 'space').replace(/[^\p{L}\p{N} _-]+/gu, '').trim().slice(0, 60) || 'space'}.cove.json`

export function App () {
  const [env] = createResource(boot)
  const [spaces, { refetch }] = createResource(() => registry.listSpaces().catch(e => { report(e, 'Could not read the list of spaces'); return [] }))
  const [session, setSession] = createSignal<SpaceSession | undefined>()
  const [opening, setOpening] = createSignal(false)
  /** Per space: what the last export from the list said about how current it was. */
  const [exportNotes, setExportNotes] = createSignal<Readonly<Record<string, string>>>({})
  let creating: string | undefined
  // The layout's overlays (issue 9, Layout): the phone's spaces drawer, the switcher, the shortcuts sheet.
  const [drawer, setDrawer] = createSignal(false)
  const [overlay, setOverlay] = createSignal<'switcher' | 'help' | undefined>()
  onCleanup(shortcuts.listen(c => {
    if (c === 'escape') setDrawer(false)
    // A modal is open: its own keys (and Escape) apply; a second one must not open over it.
    else if (overlay() === undefined) { setDrawer(false); setOverlay(c) }
  }))
  const openSpace = (id: string): void => {
    setDrawer(false)
    const r = route()
    if (r.page !== 'space' || r.id !== id) go({ page: 'space', id })
  }

  /**
   * Stores an invite and shows its space; an edit link upgrades a view-only entry. The link's
   * freshness checkpoint is stored with it (the session judges it on every open until reached); a
   * new link to a space held here brings its checkpoint, never a weaker key.
   */
  const acceptInvite = async (e: Env, text: string): Promise<void> => {
    const parsed = parseLink(e.sodium, text.startsWith('#') ? `${e.origin}/${text}` : text)
    if (!parsed.ok) return report(parsed.message, 'This link cannot be opened')
    const inv = parsed.value
    const id = toHex(inv.secrets.spaceId)
    const fragment = formatLink(e.origin, inv.secrets, inv.mode, inv.checkpoint).split('#')[1]!
    const existing = await registry.getSpace(id)
    const now = Date.now()
    if (existing === undefined) await registry.putSpace({ id, title: '', link: fragment, mode: inv.mode, addedAt: now, openedAt: now })
    else if (existing.mode === 'view' && inv.mode === 'edit') await registry.putSpace({ ...existing, link: fragment, mode: 'edit', openedAt: now })
    else if (inv.checkpoint !== undefined) {
      const held = parseLink(e.sodium, `${e.origin}/#${existing.link}`)
      if (held.ok) await registry.putSpace({ ...existing, link: formatLink(e.origin, held.value.secrets, existing.mode, inv.checkpoint).split('#')[1]!, openedAt: now })
    }
    void refetch()
    go({ page: 'space', id }, true)
  }

  createEffect(on(env, e => {
    if (e === undefined) return
    if (isInvite(bootHash)) acceptInvite(e, bootHash).catch(err => report(err, 'Could not open the link'))
    onCleanup(listen(hash => {
      history.replaceState(null, '', `${location.pathname}#/`)
      acceptInvite(e, hash).catch(err => report(err, 'Could not open the link'))
    }))
  }))

  // One session at a time: opened when the route names a space, closed when it leaves it.
  createEffect(on([env, route], ([e, r]) => {
    if (e === undefined || r.page !== 'space') return
    let current: SpaceSession | undefined
    let cancelled = false
    setOpening(true)
    void (async () => {
      const entry = await registry.getSpace(r.id)
      // The route moved on while the registry answered: whatever this run would say is stale.
      if (cancelled) return
      if (entry === undefined) { report('this browser has no key for that space; open its invite link', 'Unknown space'); go({ page: 'list' }, true); return }
      entry.openedAt = Date.now()
      await registry.putSpace(entry)
      const onEpoch = async (link: string): Promise<void> => {
        // Issue 11: the stored link follows the new epoch, then the page opens the space again in it.
        const fresh = await registry.getSpace(entry.id)
        if (fresh !== undefined) await registry.putSpace({ ...fresh, link: link.slice(link.indexOf('#') + 1) })
        location.reload()
      }
      const s = await openSession(entry, { sodium: e.sodium, link: e.link, origin: e.origin, profile: profile(), onEpoch, ...(creating === entry.id ? { create: true } : {}) })
      creating = undefined
      if (cancelled) { await s.close(); return }
      current = s
      setSession(s)
    })().catch(err => report(err, 'Could not open the space')).finally(() => setOpening(false))
    onCleanup(() => {
      cancelled = true
      setSession(undefined)
      if (current !== undefined) current.close().catch(err => report(err, 'Closing the space failed'))
    })
  }))

  createEffect(() => { session()?.setProfile(profile()) })

  // Keep the list's titles current.
  createEffect(() => {
    const s = session()
    if (s === undefined) return
    const doc = s.doc()
    const t = model.title(doc)
    const save = (): void => {
      void registry.getSpace(s.id).then(entry => {
        if (entry !== undefined && entry.title !== t.toString()) return registry.putSpace({ ...entry, title: t.toString() }).then(() => { void refetch() })
        return undefined
      })
    }
    t.observe(save)
    onCleanup(() => t.unobserve(save))
  })

  const onHide = (): void => { session()?.flush() }
  addEventListener('pagehide', onHide)
  onCleanup(() => removeEventListener('pagehide', onHide))

  const create = async (title: string): Promise<void> => {
    const e = env()
    if (e === undefined) return
    const secrets = newSpaceSecrets(e.sodium)
    const id = toHex(secrets.spaceId)
    const now = Date.now()
    await registry.putSpace({ id, title, link: formatLink(e.origin, secrets, 'edit').split('#')[1]!, mode: 'edit', addedAt: now, openedAt: now })
    creating = id
    void refetch()
    go({ page: 'space', id })
  }

  /** Exports the open space as it is, or a listed one after syncing it (or saying how old it is). */
  const exportSpace = async (id: string): Promise<void> => {
    const e = env()
    if (e === undefined) return
    const open = session()
    if (open?.id === id) return writeExport(e, open.doc(), open.keys, open.status().lastSyncedAt)
    // From the list: sync first, or say how old the copy is (export-sync.ts, issue 9.3).
    if (exportNotes()[id] === SYNCING) return
    const entry = await registry.getSpace(id)
    if (entry === undefined) return report('this browser has no key for that space', 'Export failed')
    setExportNotes(n => ({ ...n, [id]: SYNCING }))
    let copy: ExportCopy | undefined
    try {
      copy = await openForExport(entry, { sodium: e.sodium, link: e.link, origin: e.origin, profile: profile() })
      await writeExport(e, copy.doc, copy.keys, copy.lastSyncedAt)
      const note = exportNote(copy)
      setExportNotes(n => ({ ...n, [id]: note }))
    } catch (err) {
      setExportNotes(n => { const { [id]: _gone, ...rest } = n; return rest })
      throw err
    } finally {
      await copy?.close()
    }
  }

  /**
   * Export: one ZIP with the decrypted space as space.json, each note as a readable `<title>.md`
   * beside it (named in space.json as the note's `file`), and every file decrypted under files/.
   * File keys stay out of the export (it is plaintext already); a file that cannot be fetched is
   * named in space.json's `missing` list instead of failing the whole export.
   */
  const writeExport = async (e: Env, doc: Y.Doc, keys: BlobKeys | undefined, lastSyncedAt: number | undefined): Promise<void> => {
    const json = model.toJSON(doc)
    const files: ZipEntry[] = []
    const missing: string[] = []
    const items = json.items.map(item => {
      if (item.kind !== 'file') return item
      const { key, ...rest } = item
      const path = `files/${item.id}-${item.name.replace(/[\\/:*?"<>|\u0000-\u001f]/g, '_') || 'file'}`
      return { ...rest, path, key }
    })
    const localFiles = keys === undefined ? undefined : createIdbLocalFileStore(toHex(keys.spaceId))
    for (const item of items) {
      if (item.kind !== 'file') continue
      const fileKey = fromB64u(item.key)
      const blobId = fromHex(item.blob)
      // A file added on this device opens from the copy kept here (issue 9.5): it may not be on the relay yet.
      const kept = blobId === undefined ? undefined : await localFiles?.ciphertext(item.blob).catch(() => undefined)
      const r = keys === undefined || fileKey === undefined || blobId === undefined
        ? undefined
        : kept !== undefined ? await decryptBlob(e.sodium, kept, fileKey, blobId) : await downloadFile(e.sodium, e.origin, keys, blobId, fileKey)
      if (r?.ok === true) files.push({ name: item.path, data: new Uint8Array(await r.value.arrayBuffer()) })
      else missing.push(item.path)
    }
    await localFiles?.close()
    // When this copy last held everything the relay had: how current the export is.
    const syncedAt = lastSyncedAt === undefined ? null : new Date(lastSyncedAt).toISOString()
    const notes = json.items.flatMap(i => i.kind === 'note' ? [i] : [])
    const mdNames = noteFileNames(notes, ['space.json'])
    const filePaths = new Map(items.flatMap(i => i.kind === 'file' ? [[i.id, i.path] as const] : []))
    const mdFiles = notes.map(n => ({ name: mdNames.get(n.id)!, data: new TextEncoder().encode(exportMarkdown(n.text, filePaths)) }))
    const out = { exportedAt: new Date().toISOString(), syncedAt, ...json, items: items.map(i => i.kind === 'file' ? (({ key: _key, ...rest }) => rest)(i) : i.kind === 'note' ? { ...i, file: mdNames.get(i.id) } : i), missing }
    const parts = zipStore([{ name: 'space.json', data: new TextEncoder().encode(JSON.stringify(out, null, 2)) }, ...mdFiles, ...files])
    downloadBlob(fileName(json.title).replace(/\.json$/, '') + '.zip', new Blob(parts as BlobPart[], { type: 'application/zip' }))
    if (missing.length > 0) report(new Error(`${missing.length} file(s) could not be fetched and are listed in space.json as missing`), 'Export incomplete')
  }

  const leave = async (id: string): Promise<void> => {
    // Files added here and not uploaded yet exist nowhere else: say so before deleting them.
    const kept = createIdbLocalFileStore(id)
    const unsent = (await kept.list().catch(() => [])).filter(f => f.phase !== 'uploaded').length
    await kept.close()
    const warning = unsent === 0 ? '' : ` ${unsent} ${unsent === 1 ? 'file' : 'files'} added here ${unsent === 1 ? 'is' : 'are'} not on the relay yet and would be lost.`
    if (!confirm(`Leave this space? Its copy in this browser is deleted; others keep theirs.${warning}`)) return
    const open = session()
    if (open?.id === id) {
      go({ page: 'list' })
      await open.close()
    }
    // A left space must not stay findable from the others' search boxes.
    forgetSearch(id)
    await deleteSpaceDb(id)
    await registry.removeSpace(id)
    void refetch()
  }

  return (
    <div class="app">
      <header class="top">
        <button type="button" class="icon drawer-toggle" aria-label="Spaces" aria-controls="sidebar" aria-expanded={drawer()} onClick={() => setDrawer(v => !v)} data-testid="drawer-toggle">☰</button>
        <a class="brand" href="#/" onClick={e => { e.preventDefault(); go({ page: 'list' }) }}>Cove</a>
        <button type="button" class="icon help-button" aria-label="Keyboard shortcuts" title="Keyboard shortcuts (?)" onClick={() => setOverlay('help')}>?</button>
        <ProfileEditor />
      </header>
      <div class="errors" aria-live="assertive">
        <For each={errors()}>
          {err => (
            <div class="error" role="alert">
              <span>{err.message}</span>
              <button type="button" class="icon" aria-label="Dismiss" onClick={() => dismiss(err.id)}>✕</button>
            </div>
          )}
        </For>
      </div>
      <div class="shell">
        <Sidebar
          spaces={spaces() ?? []}
          current={(r => r.page === 'space' ? r.id : undefined)(route())}
          open={drawer()}
          onOpen={openSpace}
          onList={() => { setDrawer(false); go({ page: 'list' }) }}
          onClose={() => setDrawer(false)}
        />
        <div class="content">
          <Show when={env()} fallback={<p class="muted loading">{env.error !== undefined ? `Cove could not start: ${String(env.error)}` : 'Loading…'}</p>}>
            {e => (
              <Switch>
                <Match when={route().page === 'list'}>
                  <SpaceList
                    spaces={spaces() ?? []}
                    onOpen={id => go({ page: 'space', id })}
                    onCreate={title => void create(title).catch(err => report(err, 'Could not create the space'))}
                    onOpenLink={text => void acceptInvite(e(), text).catch(err => report(err, 'Could not open the link'))}
                    onExport={id => void exportSpace(id).catch(err => report(err, 'Export failed'))}
                    exportNote={id => exportNotes()[id]}
                    onLeave={id => void leave(id).catch(err => report(err, 'Could not leave the space'))}
                  />
                </Match>
                <Match when={route().page === 'space'}>
                  <Show when={session()} fallback={<p class="muted loading">{opening() ? 'Opening the space…' : ''}</p>}>
                    {s => (
                      <Show when={s().doc()} keyed>
                        {doc => (
                          <SpacePage
                            session={s()}
                            doc={doc}
                            sodium={e().sodium}
                            origin={e().origin}
                            onExport={() => void exportSpace(s().id).catch(err => report(err, 'Export failed'))}
                            onLeave={() => void leave(s().id).catch(err => report(err, 'Could not leave the space'))}
                          />
                        )}
                      </Show>
                    )}
                  </Show>
                </Match>
              </Switch>
            )}
          </Show>
        </div>
      </div>
      <Show when={overlay() === 'switcher'}><QuickSwitcher spaces={spaces() ?? []} onOpen={openSpace} onClose={() => setOverlay(undefined)} /></Show>
      <Show when={overlay() === 'help'}><ShortcutsHelp onClose={() => setOverlay(undefined)} /></Show>
    </div>
  )
}
