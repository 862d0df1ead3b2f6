import type { AddressInfo } from 'node:net'
import WebSocket, { WebSocketServer, type RawData } from 'ws'
import { toHex } from '../../shared/bytes.js'
import { readFrame, writeFrame, type Entry, type Frame, type SnapshotEntry } from '../../shared/frame.js'
import { HEADER_BYTES, parseEnvelope } from '../../shared/header.js'
import type { KnownEntry, Mitm, MitmCounts, RecordedSnapshot, Tag } from './mitm-types.js'
export type { KnownEntry, Mitm, MitmCounts, RecordedSnapshot, Tag } from './mitm-types.js'

/**
 * A lying relay (issue 8): a man in the middle on 127.0.0.1 in front of an honest relay, which
 * parses every frame both ways and, under test control, tells chosen clients chosen lies. The
 * blind proxies (proxy.ts, tamper-proxy.ts) damage bytes and get caught by signatures; this one
 * only ever forwards genuine, signed envelopes and lies by omission, substitution and bookkeeping,
 * which is what a relay operator can do.
 *
 * **Who is who.** Each tag gets its own listening port (`await mitm.url('bob')`); a client that
 * uses that address is `bob` on every connection it makes, reconnects included (one Cove client
 * opens one connection per relay address, and the client drops any path from a relay URL, so a
 * port is what tells clients apart; hello and auth carry no device key). Several clients may
 * share a tag (a group of devices seen the same way). The device keys a tag writes with are
 * learned from its appends, snapshots, presence and attestations (`devices(tag)`).
 *
 * **What it knows.** The space's log as it passes: every entry's cursor, author, stream and seq,
 * from acks of appends (the envelope went up, the cursor came back) and from entries sent to any
 * tag; and every snapshot put through it or listed to anyone (`snapshots(space)`).
 *
 * **How it lies without being caught by cursor arithmetic.** Each (tag, space) has a view. An
 * entry withheld from a view is simply left out: cursors are global to the relay (one SQLite
 * sequence for all spaces), so an honest space's cursors have gaps anyway. What would give the lie
 * away is a head: the relay says `head` = the cursor of the space's last entry (auth `ok`, every
 * `entries` frame), so a head naming a withheld entry shows the reader something is missing. In a
 * lying view every head is lowered to the last entry this view may see (waiting briefly until that
 * entry is known), and heads never go back. A forged ack takes a cursor of its own: a *phantom*
 * slot after everything the client was told, and every real cursor above it is shifted up by one
 * for that client only (requests it sends, `auth.after`, `fetch.after`, `putSnapshot.covers`, are
 * shifted back), so later entries never come with a cursor at or below the forged one. A view
 * that no rule touches and that holds no phantom sees the relay's frames byte for byte.
 *
 * **The lies**, all per space the frames name:
 *   1. `swallowNextAppend(tag)`: the next `append` from `tag` never reaches the relay; the client
 *      gets `ok(reqId, cursor = phantom)` at once.
 *   2. `dropAuthor(reader, authorHex, stream?)`: entries of that device (one stream, or all) are
 *      left out of everything sent to `reader`: catch-up pages, live pushes, `fetch` and
 *      `fetchStream` answers (an emptied live push or catch-up page is not sent at all; an emptied
 *      answer is sent empty, as the relay answers for a stream it does not have).
 *   3. `fork(groups)`: from the log's current end on, entries written by devices of one group's
 *      tags are left out for every other group, and so are those devices' later snapshots. Tags
 *      in no group, and devices of no tag, are seen by everyone.
 *   4. `rollback(reader, snapshot)`: the snapshot the relay serves `reader` at join is replaced by
 *      an older one (marked attested), and every entry after its `covers`, and every newer
 *      snapshot, is left out for `reader` from then on.
 *   5. `equivocate(envelope, readers)`: wherever an entry at the same (author, stream, seq) goes to
 *      one of `readers`, this envelope is served instead (same cursor). The relay stores only the
 *      one that was appended; the test seals the second with a device key it controls.
 *   6. `dropReceipts(reader)`: members' receipts are never sent to `reader` (so it learns nothing of
 *      what others hold from them: the case the invite link's checkpoint is for, issue 8).
 * A reader's own devices' entries are never withheld from it. Presence is not touched.
 *
 * Limits: the sealed body of a snapshot names the `coversCursor` its author saw, which the MITM
 * cannot rewrite; an entry it never saw (written straight to the relay and never passed on) is
 * taken as visible. Anything it cannot parse, or fails to rewrite, is forwarded as is (`unparsed`).
 */

type Rule =
  | { kind: 'dropAuthor'; reader: Tag; author: string; stream?: string }
  | { kind: 'fork'; groups: Tag[][]; after: Map<string, number> }
  | { kind: 'rollback'; reader: Tag; snapshot?: RecordedSnapshot }
  | { kind: 'equivocate'; space: string; author: string; stream: string; seq: number; envelope: Uint8Array; readers: Set<Tag> }
  | { kind: 'dropReceipts'; reader: Tag }

/** What a client asked with a reqId: how the answer is rewritten. */
type Pending = { kind: 'auth' | 'fetch' | 'fetchStream' | 'listSnapshots' | 'other' } | { kind: 'append'; envelope: Uint8Array } | { kind: 'putSnapshot'; covers: number; envelope: Uint8Array }

/** One tag's view of one space. */
interface View {
  readonly tag: Tag
  readonly space: string
  /** Real cursors of entries sent to it: never counted as withheld afterwards. */
  readonly delivered: Set<number>
  /** Forged acks: a slot after real cursor `anchor`, shown as `shown`. */
  readonly phantoms: { anchor: number; shown: number }[]
  /** Highest cursor it was told (entries, acks, heads), and highest head. */
  maxShown: number
  headShown: number
  /** The rollback it is held to, fixed at its first join after `rollback`. */
  rolledBackTo?: RecordedSnapshot
}

const MAX_PAYLOAD = 64 * 1024 * 1024
const KNOW_WAIT_MS = 500

const zeroCounts = (): MitmCounts => ({
  toRelay: 0, toClient: 0, unparsed: 0, swallowed: 0, forgedAcks: 0, hidden: 0, droppedFrames: 0, headsLowered: 0, equivocated: 0, snapshotsReplaced: 0, snapshotsHidden: 0
})

const toBytes = (data: RawData): Uint8Array => {
  const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data)
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength).slice()
}

const headerOf = (env: Uint8Array): { author: string; stream: string; seq: number } => {
  const p = parseEnvelope(env)
  return p.ok ? { author: toHex(p.value.header.author), stream: toHex(p.value.header.stream), seq: p.value.header.seq } : { author: '', stream: '', seq: -1 }
}
/** The author of an envelope or of a bare header (snapshot announcements carry only the header). */
const AUTHOR_AT = 1 + 1 + 16 + 4 + 8
const authorOf = (env: Uint8Array): string => env.length >= HEADER_BYTES ? toHex(env.subarray(AUTHOR_AT, AUTHOR_AT + 32)) : ''

export async function startMitm (relayUrl: string): Promise<Mitm> {
  const counts = zeroCounts()
  const tagCounts = new Map<Tag, MitmCounts>()
  const bump = (tag: Tag, k: keyof MitmCounts, n = 1): void => {
    counts[k] += n
    let c = tagCounts.get(tag)
    if (c === undefined) tagCounts.set(tag, c = zeroCounts())
    c[k] += n
  }
  const servers = new Map<Tag, WebSocketServer>()
  const conns = new Set<{ tag: Tag; client: WebSocket; relay: WebSocket }>()
  const deviceTag = new Map<string, Tag>()
  /** space (hex) → cursor → entry. */
  const logs = new Map<string, Map<number, KnownEntry>>()
  const snaps = new Map<string, Map<number, RecordedSnapshot>>()
  const views = new Map<string, View>()
  const traces = new Map<Tag, Frame[]>()
  const swallowed: { tag: Tag; space: string; envelope: Uint8Array; forgedCursor: number }[] = []
  const swallowArmed = new Map<Tag, number>()
  let rules: Rule[] = []
  const learnWaiters = new Set<() => void>()

  const logOf = (space: string): Map<number, KnownEntry> => {
    let l = logs.get(space)
    if (l === undefined) logs.set(space, l = new Map())
    return l
  }
  const learnDevice = (tag: Tag, author: string): void => { if (author !== '' && !deviceTag.has(author)) deviceTag.set(author, tag) }
  const learnEntry = (space: string, e: Entry, appender?: Tag): void => {
    const l = logOf(space)
    const had = l.get(e.cursor)
    if (had !== undefined && (had.appender !== undefined || appender === undefined)) return
    l.set(e.cursor, { cursor: e.cursor, space, ...headerOf(e.envelope), envelope: e.envelope, ...(appender === undefined ? {} : { appender }) })
    for (const w of [...learnWaiters]) w()
  }
  const recordSnapshot = (space: string, s: SnapshotEntry): void => {
    if (s.envelope.length <= HEADER_BYTES) return // an announcement carries the header only
    let m = snaps.get(space)
    if (m === undefined) snaps.set(space, m = new Map())
    const h = headerOf(s.envelope)
    m.set(s.id, { ...s, attested: s.attested || (m.get(s.id)?.attested ?? false), space, seq: h.seq, author: h.author })
  }
  /** Resolves once `cursor` of `space` is known, or after KNOW_WAIT_MS. */
  const known = async (space: string, cursor: number): Promise<void> => {
    if (cursor === 0 || logOf(space).has(cursor)) return
    await new Promise<void>(resolve => {
      const check = (): void => { if (logOf(space).has(cursor)) done() }
      const timer = setTimeout(() => done(), KNOW_WAIT_MS)
      const done = (): void => { clearTimeout(timer); learnWaiters.delete(check); resolve() }
      learnWaiters.add(check)
    })
  }

  const viewOf = (tag: Tag, space: string): View => {
    const k = `${tag}\0${space}`
    let v = views.get(k)
    if (v === undefined) views.set(k, v = { tag, space, delivered: new Set(), phantoms: [], maxShown: 0, headShown: 0 })
    return v
  }
  const groupOf = (groups: Tag[][], tag: Tag): number => groups.findIndex(g => g.includes(tag))
  /** The rules that may make this view differ from the relay's frames. */
  const lying = (v: View): boolean => v.phantoms.length > 0 || v.rolledBackTo !== undefined || rules.some(r =>
    r.kind === 'fork' ? groupOf(r.groups, v.tag) >= 0 : r.kind === 'equivocate' ? r.readers.has(v.tag) : r.reader === v.tag)
  /** Whether `e` is left out for `v` (under the rules now; its own devices' entries never are). */
  const hides = (v: View, e: KnownEntry): boolean => {
    if (e.author === '' || deviceTag.get(e.author) === v.tag) return false
    const rb = v.rolledBackTo
    if (rb !== undefined && e.cursor > rb.covers) return true
    return rules.some(r => {
      if (r.kind === 'dropAuthor') return r.reader === v.tag && r.author === e.author && (r.stream === undefined || r.stream === e.stream)
      if (r.kind !== 'fork' || e.cursor <= (r.after.get(e.space) ?? 0)) return false
      const mine = groupOf(r.groups, v.tag)
      const writer = deviceTag.get(e.author)
      const theirs = writer === undefined ? -1 : groupOf(r.groups, writer)
      return mine >= 0 && theirs >= 0 && mine !== theirs
    })
  }
  const hidesSnapshot = (v: View, s: SnapshotEntry): boolean => {
    const rb = v.rolledBackTo
    if (rb !== undefined && s.id > rb.id) return true
    const author = authorOf(s.envelope)
    if (author === '' || deviceTag.get(author) === v.tag) return false
    return rules.some(r => {
      if (r.kind !== 'fork' || s.covers <= (r.after.get(v.space) ?? 0)) return false
      const writer = deviceTag.get(author)
      const mine = groupOf(r.groups, v.tag)
      return mine >= 0 && writer !== undefined && groupOf(r.groups, writer) >= 0 && groupOf(r.groups, writer) !== mine
    })
  }

  // Cursor mapping of a view: real → shown (phantoms shift what is above them) and back.
  const shown = (v: View, real: number): number => real + v.phantoms.filter(p => p.anchor < real).length
  const realOf = (v: View, s: number): number => {
    const p = v.phantoms.find(x => x.shown === s)
    return p !== undefined ? p.anchor : s - v.phantoms.filter(x => x.shown < s).length
  }
  /** A head the relay gave as `real`, as this view may be told it: the last entry it may see, never lower than before. */
  const headFor = async (v: View, real: number): Promise<number> => {
    if (!lying(v)) return real
    await known(v.space, real)
    const l = logOf(v.space)
    let last = real
    if (l.has(real)) {
      last = 0
      const cursors = [...l.keys()].filter(c => c <= real).sort((a, b) => b - a)
      for (const c of cursors) if (v.delivered.has(c) || !hides(v, l.get(c)!)) { last = c; break }
    }
    let h = last === 0 ? 0 : shown(v, last)
    for (const p of v.phantoms) if (p.anchor <= real) h = Math.max(h, p.shown)
    return Math.max(h, v.headShown)
  }
  const tell = (v: View, cursor: number): void => { v.maxShown = Math.max(v.maxShown, cursor) }

  /** A frame the relay sent, as this tag's client is told it; undefined: not sent at all. */
  const rewrite = async (tag: Tag, f: Frame, pending: Map<string, Pending>): Promise<Frame | undefined> => {
    if (!('spaceId' in f) || f.spaceId.length === 0 || f.type === 'challenge' || f.type === 'error' || f.type === 'presenceOut' || f.type === 'peerLeft' || f.type === 'snapshotPart') return f
    const space = toHex(f.spaceId)
    const v = viewOf(tag, space)
    const key = `${space}:${'reqId' in f ? f.reqId : 0}`
    const asked = 'reqId' in f && f.reqId !== 0 ? pending.get(key) : undefined
    if (f.type === 'receipts' && rules.some(r => r.kind === 'dropReceipts' && r.reader === tag)) { bump(tag, 'droppedFrames'); return undefined }
    if (f.type === 'ok') {
      if (asked?.kind === 'append') {
        pending.delete(key)
        v.delivered.add(f.cursor)
        const c = shown(v, f.cursor)
        tell(v, c)
        return c === f.cursor ? f : { ...f, cursor: c }
      }
      if (asked?.kind === 'auth') {
        const h = await headFor(v, f.cursor)
        if (h < shown(v, f.cursor)) bump(tag, 'headsLowered')
        v.headShown = h
        tell(v, h)
        return h === f.cursor ? f : { ...f, cursor: h }
      }
      if (asked !== undefined) pending.delete(key)
      return f
    }
    if (f.type === 'snapshots') {
      if (asked?.kind === 'listSnapshots') pending.delete(key)
      const join = asked?.kind === 'auth'
      const rb = v.rolledBackTo
      let list = f.snapshots
      if (join && rb !== undefined && list.some(s => s.id !== rb.id)) {
        bump(tag, 'snapshotsReplaced')
        list = [{ id: rb.id, covers: rb.covers, attested: true, envelope: rb.envelope }]
      }
      const kept = list.filter(s => !hidesSnapshot(v, s))
      if (kept.length < list.length) bump(tag, 'snapshotsHidden', list.length - kept.length)
      if (kept.length === 0 && f.snapshots.length > 0 && asked?.kind !== 'listSnapshots') { bump(tag, 'droppedFrames'); return undefined }
      const out = kept.map(s => ({ ...s, covers: shown(v, s.covers) }))
      for (const s of out) tell(v, s.covers)
      const same = out.length === f.snapshots.length && out.every((s, i) => s.id === f.snapshots[i]!.id && s.covers === f.snapshots[i]!.covers)
      return same ? f : { ...f, snapshots: out }
    }
    if (f.type === 'entries') {
      const kind = f.reqId === 0 ? 'live' : asked?.kind ?? 'other'
      if (kind === 'fetch' || kind === 'fetchStream') pending.delete(key)
      if (!lying(v)) {
        for (const e of f.entries) { v.delivered.add(e.cursor); tell(v, e.cursor) }
        v.headShown = Math.max(v.headShown, f.head)
        tell(v, f.head)
        return f
      }
      const entries: Entry[] = []
      for (const e of f.entries) {
        const k = logOf(space).get(e.cursor) ?? { cursor: e.cursor, space, ...headerOf(e.envelope), envelope: e.envelope }
        if (!v.delivered.has(e.cursor) && hides(v, k)) { bump(tag, 'hidden'); continue }
        const eq = rules.find((r): r is Extract<Rule, { kind: 'equivocate' }> => r.kind === 'equivocate' && r.readers.has(tag) && r.space === space &&
          r.author === k.author && r.stream === k.stream && r.seq === k.seq)
        let envelope = e.envelope
        if (eq !== undefined && Buffer.compare(Buffer.from(eq.envelope), Buffer.from(e.envelope)) !== 0) { envelope = eq.envelope; bump(tag, 'equivocated') }
        v.delivered.add(e.cursor)
        entries.push({ cursor: shown(v, e.cursor), envelope })
        tell(v, shown(v, e.cursor))
      }
      if (entries.length === 0 && f.entries.length > 0 && (kind === 'live' || kind === 'auth')) { bump(tag, 'droppedFrames'); return undefined }
      const head = await headFor(v, f.head)
      if (head < shown(v, f.head)) bump(tag, 'headsLowered')
      v.headShown = head
      tell(v, head)
      const same = head === f.head && entries.length === f.entries.length && entries.every((e, i) => e.cursor === f.entries[i]!.cursor && e.envelope === f.entries[i]!.envelope)
      return same ? f : { ...f, entries, head }
    }
    return f
  }

  const accept = (tag: Tag, client: WebSocket): void => {
    const relay = new WebSocket(relayUrl, { perMessageDeflate: false, maxPayload: MAX_PAYLOAD })
    const conn = { tag, client, relay }
    conns.add(conn)
    const pending = new Map<string, Pending>()
    let toClient: Promise<void> = Promise.resolve()
    const trace = traces.get(tag) ?? []
    traces.set(tag, trace)
    const sendClient = (b: Uint8Array, binary = true): void => { if (client.readyState === WebSocket.OPEN) client.send(b, { binary }) }
    const sendRelay = (b: Uint8Array, binary = true): void => { if (relay.readyState === WebSocket.OPEN) relay.send(b, { binary }) }
    const early: (() => void)[] = []
    const end = (): void => { conns.delete(conn); client.terminate(); relay.terminate() }

    /** A client frame: learn from it, maybe lie about it, forward it (shifted back into the relay's cursors). */
    const up = (data: RawData, isBinary: boolean): void => {
      const bytes = toBytes(data)
      const r = isBinary ? readFrame(bytes) : undefined
      if (r?.ok !== true) { bump(tag, 'unparsed'); bump(tag, 'toRelay'); sendRelay(bytes, isBinary); return }
      let f = r.value
      if (!('spaceId' in f) || f.spaceId.length === 0) { bump(tag, 'toRelay'); sendRelay(bytes); return }
      const space = toHex(f.spaceId)
      const v = viewOf(tag, space)
      const key = `${space}:${'reqId' in f ? f.reqId : 0}`
      switch (f.type) {
        case 'append': {
          learnDevice(tag, headerOf(f.envelope).author)
          const armed = swallowArmed.get(tag) ?? 0
          if (armed > 0) {
            swallowArmed.set(tag, armed - 1)
            bump(tag, 'swallowed')
            const { reqId, envelope, spaceId } = f
            // In order with what the relay sent before: the phantom goes after all of it.
            toClient = toClient.then(() => {
              // Right after everything this client was told: whatever it is told later comes after.
              const phantom = { anchor: realOf(v, v.maxShown), shown: v.maxShown + 1 }
              v.phantoms.push(phantom)
              tell(v, phantom.shown)
              swallowed.push({ tag, space, envelope, forgedCursor: phantom.shown })
              const ok: Frame = { type: 'ok', reqId, spaceId, cursor: phantom.shown }
              bump(tag, 'forgedAcks')
              bump(tag, 'toClient')
              trace.push(ok)
              sendClient(writeFrame(ok))
            })
            return
          }
          pending.set(key, { kind: 'append', envelope: f.envelope })
          break
        }
        case 'auth': {
          pending.set(key, { kind: 'auth' })
          f = { ...f, after: realOf(v, f.after) }
          // A rollback holds from the reader's next join on (before the relay's ok names a head).
          const rb = rules.find((x): x is Extract<Rule, { kind: 'rollback' }> => x.kind === 'rollback' && x.reader === tag)
          const to = rb?.snapshot ?? mitm.snapshots(space)[0]
          if (rb !== undefined && v.rolledBackTo === undefined && to?.space === space) v.rolledBackTo = to
          break
        }
        case 'fetch': pending.set(key, { kind: 'fetch' }); f = { ...f, after: realOf(v, f.after) }; break
        case 'putSnapshot':
          learnDevice(tag, headerOf(f.envelope).author)
          f = { ...f, covers: realOf(v, f.covers) }
          pending.set(key, { kind: 'putSnapshot', covers: f.covers, envelope: f.envelope })
          break
        case 'fetchStream': case 'listSnapshots': pending.set(key, { kind: f.type }); break
        case 'presence': learnDevice(tag, headerOf(f.envelope).author); break
        case 'attest': learnDevice(tag, toHex(f.device)); pending.set(key, { kind: 'other' }); break
        case 'hello':
          // It reads frames one at a time, without the per-connection tables of compact frames
          // (shared/wire.ts): to the relay it is a client without caps, so both sides speak frame.ts.
          pending.set(key, { kind: 'other' })
          if (f.caps !== undefined) f = { type: 'hello', reqId: f.reqId, spaceId: f.spaceId }
          break
        default: if ('reqId' in f) pending.set(key, { kind: 'other' })
      }
      bump(tag, 'toRelay')
      sendRelay(f === r.value ? bytes : writeFrame(f))
    }

    /** A relay frame: learn from it at once (other connections may wait on it), then lie in order. */
    const down = (data: RawData, isBinary: boolean): void => {
      const bytes = toBytes(data)
      const r = isBinary ? readFrame(bytes) : undefined
      if (r?.ok === true) {
        const f = r.value
        const space = 'spaceId' in f && f.spaceId.length > 0 ? toHex(f.spaceId) : ''
        const asked = 'reqId' in f ? pending.get(`${space}:${f.reqId}`) : undefined
        if (f.type === 'entries') for (const e of f.entries) learnEntry(space, e)
        if (f.type === 'ok' && asked?.kind === 'append') learnEntry(space, { cursor: f.cursor, envelope: asked.envelope }, tag)
        if (f.type === 'ok' && asked?.kind === 'putSnapshot') recordSnapshot(space, { id: f.cursor, covers: asked.covers, attested: false, envelope: asked.envelope })
        if (f.type === 'snapshots') for (const s of f.snapshots) recordSnapshot(space, s)
      }
      toClient = toClient.then(async () => {
        if (r?.ok !== true) { bump(tag, 'unparsed'); bump(tag, 'toClient'); sendClient(bytes, isBinary); return }
        let out: Frame | undefined
        try {
          out = await rewrite(tag, r.value, pending)
        } catch {
          bump(tag, 'unparsed'); bump(tag, 'toClient'); sendClient(bytes); return
        }
        if (out === undefined) return
        bump(tag, 'toClient')
        trace.push(out)
        sendClient(out === r.value ? bytes : writeFrame(out))
      })
    }

    client.on('message', (data, isBinary) => {
      if (relay.readyState === WebSocket.OPEN) up(data, isBinary)
      else early.push(() => up(data, isBinary))
    })
    relay.on('open', () => { for (const f of early.splice(0)) f() })
    relay.on('message', down)
    client.on('close', end)
    relay.on('close', () => { void toClient.then(end) })
    client.on('error', end)
    relay.on('error', end)
  }

  const mitm: Mitm = {
    async url (tag) {
      let wss = servers.get(tag)
      if (wss === undefined) {
        const s = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false, maxPayload: MAX_PAYLOAD })
        servers.set(tag, wss = s)
        await new Promise<void>((resolve, reject) => { s.once('listening', () => resolve()); s.once('error', reject) })
        s.on('connection', client => accept(tag, client))
      }
      if (wss.address() === null) await new Promise<void>(resolve => wss!.once('listening', () => resolve()))
      return `ws://127.0.0.1:${(wss.address() as AddressInfo).port}`
    },
    counts,
    countsFor: tag => ({ ...(tagCounts.get(tag) ?? zeroCounts()) }),
    devices: tag => [...deviceTag].filter(([, t]) => t === tag).map(([d]) => d),
    log: space => [...logOf(space).values()].sort((a, b) => a.cursor - b.cursor),
    snapshots: space => [...(snaps.get(space)?.values() ?? [])].sort((a, b) => a.id - b.id),
    swallowed,
    sent: tag => [...(traces.get(tag) ?? [])],
    swallowNextAppend (tag, n = 1) { swallowArmed.set(tag, (swallowArmed.get(tag) ?? 0) + n) },
    dropAuthor (reader, author, opts = {}) {
      rules.push({ kind: 'dropAuthor', reader, author: author.toLowerCase(), ...(opts.stream === undefined ? {} : { stream: opts.stream.toLowerCase() }) })
    },
    fork (groups) {
      const after = new Map<string, number>()
      for (const [space, l] of logs) after.set(space, Math.max(0, ...l.keys()))
      rules.push({ kind: 'fork', groups: groups.map(g => [...g]), after })
    },
    rollback (reader, snapshot) {
      rules.push({ kind: 'rollback', reader, ...(snapshot === undefined ? {} : { snapshot }) })
    },
    equivocate (envelope, readers) {
      const p = parseEnvelope(envelope)
      if (!p.ok) throw new Error(`equivocate: ${p.message}`)
      const h = p.value.header
      rules.push({ kind: 'equivocate', space: toHex(h.spaceId), author: toHex(h.author), stream: toHex(h.stream), seq: h.seq, envelope: envelope.slice(), readers: new Set(readers) })
    },
    dropReceipts (reader) { rules.push({ kind: 'dropReceipts', reader }) },
    honest () {
      rules = []
      swallowArmed.clear()
      for (const v of views.values()) delete v.rolledBackTo
    },
    cut (tag) {
      for (const c of [...conns]) if (tag === undefined || c.tag === tag) { c.client.terminate(); c.relay.terminate() }
    },
    async close () {
      mitm.cut()
      await Promise.all([...servers.values()].map(s => new Promise<void>(resolve => s.close(() => resolve()))))
    }
  }
  return mitm
}
