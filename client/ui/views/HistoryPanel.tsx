import { For, Show, createEffect, createMemo, createSignal, on, onCleanup } from 'solid-js'
import type * as Y from 'yjs'
import * as model from '../../core/model.js'
import * as restore from '../../core/restore.js'
import type { SnapshotInfo } from '../../core/space.js'
import { formatAge, formatTime } from '../format.js'
import { deviceTag, type LabelledPeer } from '../peer-labels.js'
import type { SpaceSession } from '../session.js'
import { SnapshotView } from './SnapshotView.js'
import '../history.css'

/**
 * The History panel (issue 9): the snapshots the relay keeps of this space, newest first, fetched
 * and verified the way `cove history` does (signature and decryption checked; what does not open
 * is not shown). Choosing one shows the space as it was (SnapshotView). History lives on the
 * relay only, so with no connection the panel says so instead of showing a stale list.
 */
export interface HistoryPanelProps {
  readonly session: SpaceSession
  readonly doc: Y.Doc
  /** Everyone here now, named as the presence bar names them: a snapshot's author, if present. */
  readonly peers: readonly LabelledPeer[]
}

/** One snapshot as the timeline lists it. */
interface Row {
  readonly info: SnapshotInfo
  /** Items shown in the space at that snapshot; undefined when its state does not decode. */
  readonly items: number | undefined
}

type Load =
  | { readonly state: 'loading' }
  | { readonly state: 'unreachable' }
  | { readonly state: 'failed'; readonly message: string }
  | { readonly state: 'loaded'; readonly rows: readonly Row[] }

/** The session's own errors for "no answer from the relay" (client/core/requests.ts). */
const UNREACHABLE = /^sync\/(offline|timeout|closed)\b/

function rowOf (info: SnapshotInfo): Row {
  // Not even counted: this device found its content is not what the members wrote.
  if (info.verdict === 'bad') return { info, items: undefined }
  const d = restore.decode(info.state)
  const items = d === undefined ? undefined : model.orderedItems(d).length
  d?.destroy()
  return { info, items }
}

export function HistoryPanel (props: HistoryPanelProps) {
  const [load, setLoad] = createSignal<Load>({ state: 'loading' })
  const [chosen, setChosen] = createSignal<number | undefined>()
  const [sealing, setSealing] = createSignal<string | undefined>()
  const online = (): boolean => props.session.status().connection === 'online'
  let generation = 0

  const fetchHistory = async (): Promise<void> => {
    const mine = ++generation
    if (!online()) { setLoad({ state: 'unreachable' }); return }
    setLoad({ state: 'loading' })
    try {
      const snaps = await props.session.history(64)
      if (mine !== generation) return
      setLoad({ state: 'loaded', rows: [...snaps].sort((a, b) => b.seq - a.seq).map(rowOf) })
    } catch (e) {
      if (mine !== generation) return
      const message = e instanceof Error ? e.message : String(e)
      setLoad(UNREACHABLE.test(message) ? { state: 'unreachable' } : { state: 'failed', message })
    }
  }
  // Fetched on opening, and again when the relay comes back after saying it could not be reached.
  createEffect(on(online, (now, before) => {
    if (before === undefined || (now && load().state === 'unreachable') || (!now && load().state === 'loading')) void fetchHistory()
  }))
  onCleanup(() => { generation++ })

  const rows = (): readonly Row[] => { const l = load(); return l.state === 'loaded' ? l.rows : [] }
  const selected = createMemo(() => rows().find(r => r.info.seq === chosen()))
  // The chosen snapshot's document, apart from the live one; destroyed when another is chosen.
  const old = createMemo(() => {
    const r = selected()
    if (r === undefined || r.info.verdict === 'bad') return undefined
    const d = restore.decode(r.info.state)
    if (d !== undefined) onCleanup(() => d.destroy())
    return d
  })
  createEffect(on(old, d => { if (d !== undefined) queueMicrotask(() => document.getElementById('snapshot-as-of')?.focus()) }))

  /** Who sealed a snapshot: this device, someone here now by their name, else the device's short code. */
  const author = (hex: string): string => {
    if (hex === props.session.device()) return 'this device'
    const p = props.peers.find(x => x.device === hex)
    return p !== undefined ? p.label.text : `device ${deviceTag(hex)}`
  }
  /** Back to the timeline, the focus on the row that was open (keyboard users keep their place). */
  const closeView = (): void => {
    const seq = chosen()
    setChosen(undefined)
    document.querySelector<HTMLElement>(`[data-testid=history-row][data-seq="${String(seq)}"]`)?.focus()
  }
  const sealNow = async (): Promise<void> => {
    setSealing('Saving a snapshot…')
    try {
      const r = await props.session.snapshot()
      setSealing(r === 'skipped' ? 'Not caught up with the relay yet: try again in a moment.' : undefined)
      if (r !== 'skipped') await fetchHistory()
    } catch (e) {
      const message = e instanceof Error ? e.message : String(e)
      setSealing(UNREACHABLE.test(message) ? 'The relay cannot be reached now: no snapshot was saved.' : `No snapshot was saved (${message}).`)
    }
  }

  return (
    <section class="panel history" aria-label="History" data-testid="history">
      <div class="history-head">
        <h2>History</h2>
        <Show when={!props.session.readOnly}>
          <button type="button" class="small" disabled={!online() || sealing() === 'Saving a snapshot…'} onClick={() => void sealNow()} data-testid="history-seal">Save a snapshot now</button>
        </Show>
        <button type="button" class="small" disabled={load().state === 'loading'} onClick={() => void fetchHistory()} data-testid="history-refresh">Refresh</button>
      </div>
      <p class="muted">Snapshots of the space the relay keeps (the newest few), sealed from time to time by members' devices. Each is checked before it is shown.</p>
      <Show when={sealing()}>{s => <p role="status" data-testid="history-seal-status">{s()}</p>}</Show>
      <Show when={load().state === 'unreachable'}>
        <p class="error-text" role="status" data-testid="history-unreachable">History lives on the relay; it can't be reached now.</p>
      </Show>
      <Show when={load().state === 'loading'}><p class="muted" role="status">Asking the relay…</p></Show>
      <Show when={(() => { const l = load(); return l.state === 'failed' ? l.message : undefined })()}>
        {m => <p class="error-text" role="status" data-testid="history-failed">The relay's history could not be read: {m()}</p>}
      </Show>
      <Show when={load().state === 'loaded' && rows().length === 0}>
        <p class="muted" data-testid="history-empty">No snapshots yet. Devices of members who can edit save one as the space changes.</p>
      </Show>
      <div class={`history-body${old() === undefined ? '' : ' viewing'}`}>
        <Show when={rows().length > 0}>
          <ol class="history-list" aria-label="Snapshots, newest first">
            <For each={rows()}>
              {r => (
                <li>
                  <button type="button" class="history-row" aria-current={chosen() === r.info.seq ? 'true' : undefined} disabled={r.info.verdict === 'bad'} onClick={() => setChosen(r.info.seq)} data-seq={r.info.seq} data-testid="history-row">
                    <span class="history-when">{formatTime(r.info.createdAt)} <span class="muted">({formatAge(r.info.createdAt)})</span></span>
                    <span class="muted history-meta">#{r.info.seq} · by {author(r.info.author)} · {r.items === undefined ? 'unreadable' : `${r.items} ${r.items === 1 ? 'item' : 'items'}`}</span>
                    <Show when={r.info.verdict === 'bad'}><span class="error-text history-meta">Not shown: this device found it does not match what the members wrote (see Security)</span></Show>
                  </button>
                </li>
              )}
            </For>
          </ol>
        </Show>
        <Show when={selected() !== undefined && old() === undefined}>
          <p class="error-text">This snapshot was signed by a member but its content cannot be read.</p>
        </Show>
        <Show when={old()}>
          {d => <SnapshotView doc={props.doc} old={d()} seq={selected()?.info.seq ?? 0} createdAt={selected()?.info.createdAt ?? 0} readOnly={props.session.readOnly} onClose={closeView} />}
        </Show>
      </div>
    </section>
  )
}
