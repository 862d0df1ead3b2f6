import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import WebSocket from 'ws'
import * as Y from 'yjs'
import { createClient, type Client } from '../core/client.js'
import { createFileSpaceStore } from '../core/file-store.js'
import { noteBlocks } from '../core/markdown.js'
import * as model from '../core/model.js'
import * as trash from '../core/trash.js'
import type { Member } from '../core/members.js'
import type { Alert, Space } from '../core/space.js'
import { createWsTransport, type WebSocketCtor } from '../core/ws-transport.js'
import { toHex } from '../../shared/bytes.js'
import type { Invite } from '../../shared/keys.js'
import { getSodium } from '../../shared/sodium.js'
import * as epochs from './epochs.js'
import * as known from './known-spaces.js'

/**
 * `npx cove <command> (or `npm run cove -- <command>`)`: the headless face of the client. State (device keys, local
 * replicas, unsent changes) lives in $COVE_HOME (default ~/.cove), one journal per space.
 *
 * Exit codes (sysexits): 0 done and durably stored by the relay; 64 usage; 65 malformed link;
 * 66 unknown item; 75 relay unreachable or refusing the change for now (the space over its quota
 * on the relay, the creation refused by a limit), change kept locally and sent by the next command
 * that reaches it; 76 `cat`/`watch`: this copy cannot be trusted (an alert says the relay lied,
 * e.g. it served an older state than the link's checkpoint: README); 77 view-only link used for
 * an edit; 69 this device was removed from the space, or its link was replaced by a rotation
 * (issue 11: what it has stays local); 1 anything else.
 */
const USAGE = `usage: cove <command> [args] [--relay URL] [--timeout MS]

  <space> is the id or alias of a space opened here before, or "-" (its link on the first line of
  stdin), or env:NAME (its link in the environment variable NAME; env: alone is COVE_LINK). A link
  typed on the command line works too, but shows in ps and shell history.

  create --relay URL [--title TEXT] [--as ALIAS]  create a space, print its id and its edit and view links
  open <space> [--as ALIAS]           open a space here once (e.g. cove open - --as trip < link.txt)
  spaces                              list the spaces opened here: id, alias, edit or view
  members <space> [--json]            who is in the space: device, name, edit or view, last seen, this device
  remove <space> <device>...          take a member's access back: the space moves to a new epoch whose key
                                      only the other members get; prints the new links (device: 8+ hex digits)
  rotate <space> [--keep D1,D2]       move to a new epoch removing nobody (a lost phone: keep only those listed)
  link <space>                        print fresh links to share (they carry a checkpoint of this device's state)
  title <space> <text>                set the space title
  add-note <space> <markdown|->       add a note, written in Markdown (- reads it from stdin)
  add-link <space> <url> [title]      add a link
  add-todo <space> <text>             add an entry to the space's checklist
  done <space> <item-id>              tick a checklist entry
  rm <space> <id>                     move an item or checklist entry to the Trash
  restore <space> <id>                bring an item or entry back from the Trash
  cat <space> [--at N] [--trash] [--md] print the decrypted space as JSON, each note's Markdown as "text"
                                      and its structure as "blocks" (--at: as it was at snapshot #N;
                                      --trash: with what is in the Trash, marked "trashed";
                                      --md: only the notes, as Markdown)
  history <space>                     list the snapshots the relay keeps
  snapshot <space>                    seal a snapshot of the space now
  watch <space>                       print the space each time it changes

  --relay URL   reach the space through this relay address instead of the link's; repeat it to
                list more relays serving the same spaces, tried in turn when one is gone
  --timeout MS  how long to wait for the relay (default 5000)
  COVE_HOME     where local state is kept (default ~/.cove)
  COVE_NAME     the name stored with entries you add and things you delete, and shown to the space's
                members (default: none)
  COVE_COLOUR   this device's colour in the members list, 0-7 (default 0)`

class Exit extends Error {
  constructor (readonly code: number, message: string) { super(message) }
}

function home (): string {
  return process.env.COVE_HOME ?? path.join(os.homedir(), '.cove')
}

/** `relays`: every `--relay` given; the first is used, the others are fallbacks when a relay is gone (issue 12). */
async function makeClient (relays: readonly string[] = []): Promise<Client> {
  const dir = path.join(home(), 'spaces')
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 })
  return createClient({
    transport: createWsTransport(WebSocket as unknown as WebSocketCtor),
    storeFor: id => createFileSpaceStore(path.join(dir, `${id}.journal`)),
    link: { backoffBaseMs: 100, backoffMaxMs: 1000 },
    relays
  })
}

/** The space a command names (known-spaces.ts): exit 66 for an unknown alias, 65 for a bad link. */
async function invite (ref: string | undefined): Promise<{ inv: Invite; link: string; fromArgv: boolean }> {
  if (ref === undefined) throw new Exit(64, USAGE)
  const r = await known.resolve(await getSodium(), home(), ref, readStdin)
  if (!r.ok) {
    if (r.code === 'space/unknown' || r.code === 'space/no-link') throw new Exit(66, `cove: ${r.message}`)
    throw new Exit(65, `cove: this is not a valid Cove link (${r.message})`)
  }
  return { inv: r.value.invite, link: r.value.link, fromArgv: r.value.fromArgv }
}

const ARGV_NOTE = 'cove: note: a link on the command line shows in ps and shell history; open the space once (cove open - --as NAME, the link on stdin) and name it by NAME from then on\n'

/** True once joined; false after `ms`, or as soon as the relay refuses to register the space. */
function waitOnline (space: Space, ms: number): Promise<boolean> {
  return new Promise(resolve => {
    if (space.status.connection === 'online') return resolve(true)
    const off = space.events.on('status', s => { if (s.connection === 'online') { done(true) } })
    const offAlert = space.events.on('alert', a => { if (a.code === 'sync/create-refused') done(false) })
    const timer = setTimeout(() => done(false), ms)
    const done = (v: boolean): void => { off(); offAlert(); clearTimeout(timer); resolve(v) }
  })
}

/** Refusals that keep the change on this device: the command says which, not "unreachable". */
const REFUSALS = new Set(['sync/quota', 'sync/write-refused', 'sync/create-refused'])

/** The first alert in REFUSALS raised by this process, if any. */
const refusalOf = (space: Space): Alert | undefined => space.alerts.find(a => REFUSALS.has(a.code))

/** Resolves with the first alert in REFUSALS (at once if one was raised already). */
function refusal (space: Space): { readonly promise: Promise<Alert>; off (): void } {
  let off = (): void => {}
  const promise = new Promise<Alert>(resolve => {
    const seen = refusalOf(space)
    if (seen !== undefined) return resolve(seen)
    off = space.events.on('alert', a => { if (REFUSALS.has(a.code)) resolve(a) })
  })
  return { promise, off: () => off() }
}

/**
 * Waits for the relay to store every local change. Exit 75 when it cannot be reached, or when it
 * refuses the change in a way that keeps it here (over quota, say): the message says which.
 */
async function commit (space: Space, timeout: number, online: boolean): Promise<void> {
  if (online) {
    const refused = refusal(space)
    try {
      const r = await Promise.race([space.whenStored(timeout).then(() => 'stored' as const), refused.promise])
      if (r === 'stored') return
    } catch {
    } finally {
      refused.off()
    }
  } else {
    await space.flush()
  }
  const r = refusalOf(space)
  if (r !== undefined) throw new Exit(75, `cove: the relay refused the change (${r.code}: ${r.message}); it is saved locally (${space.unsynced} unsent) and will be sent by the next command that reaches the relay`)
  throw new Exit(75, `cove: the relay could not be reached; the change is saved locally (${space.unsynced} unsent) and will be sent by the next command that reaches it`)
}

let stdinRead: Promise<string> | undefined
/** Stdin as text, read once (a link and a note cannot both come from it). */
async function readStdin (): Promise<string> {
  if (stdinRead !== undefined) throw new Exit(64, 'cove: stdin can give the link or the note, not both')
  stdinRead = (async () => {
    const chunks: Buffer[] = []
    for await (const c of process.stdin) chunks.push(c as Buffer)
    return Buffer.concat(chunks).toString('utf8').replace(/\n$/, '')
  })()
  return await stdinRead
}

async function main (argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      relay: { type: 'string', multiple: true },
      title: { type: 'string' },
      timeout: { type: 'string', default: '5000' },
      at: { type: 'string' },
      trash: { type: 'boolean' },
      md: { type: 'boolean' },
      as: { type: 'string' },
      json: { type: 'boolean' },
      keep: { type: 'string' },
      help: { type: 'boolean', short: 'h' }
    }
  })
  const [cmd, ...args] = positionals
  if (values.help === true || cmd === undefined) {
    process.stdout.write(USAGE + '\n')
    return cmd === undefined && values.help !== true ? 64 : 0
  }
  const relays = values.relay ?? []
  const relay = relays[0]
  const timeout = Number(values.timeout)
  if (!Number.isFinite(timeout) || timeout <= 0) throw new Exit(64, `cove: invalid --timeout ${values.timeout}`)

  // Stored in the document with what this device adds or deletes ("Bob's 2 entries", "Deleted by Bob").
  const name = (process.env.COVE_NAME ?? '').trim().slice(0, 64)

  if (cmd === 'create') {
    if (relay === undefined) throw new Exit(64, 'cove: create needs --relay URL (e.g. ws://127.0.0.1:8787)')
    if (values.as !== undefined && !known.validAlias(values.as)) throw new Exit(64, `cove: "${values.as}" cannot be an alias`)
    const client = await makeClient(relays)
    try {
      const { space, editLink } = await client.createSpace(relay, values.title)
      space.members.setProfile({ name, colour: colourOf(process.env.COVE_COLOUR) })
      known.remember(home(), { relayUrl: relay, mode: 'edit', secrets: space.secrets }, editLink, values.as)
      process.stdout.write(`space: ${toHex(space.secrets.spaceId)}${values.as === undefined ? '' : ` (here: ${values.as})`}\n`)
      const online = await waitOnline(space, timeout)
      // Printed after the title is stored (or could not be), so the links' checkpoint names it.
      try {
        await commit(space, timeout, online)
      } finally {
        printLinks(client.links(space, relay))
      }
      return 0
    } finally {
      await client.close()
    }
  }

  const asJSON = { trash: values.trash === true }
  const print = (doc: Y.Doc): void => { process.stdout.write(values.md === true ? notesMarkdown(doc, asJSON) : JSON.stringify(catJSON(doc, asJSON), null, 2) + '\n') }
  const editCommands: Record<string, (space: Space) => string | undefined> = {
    title: s => { need(args, 2); model.setTitle(s.doc, args[1]!); return undefined },
    'add-link': s => { need(args, 2); return model.addLink(s.doc, args[1]!, args[2] ?? '') },
    'add-todo': s => { need(args, 2); return model.addTodo(s.doc, args[1]!, undefined, name) },
    done: s => {
      need(args, 2)
      if (!model.setDone(s.doc, args[1]!)) throw new Exit(66, `cove: no checklist entry with id ${args[1]!} in this space`)
      return undefined
    },
    rm: s => {
      need(args, 2)
      if (!trash.trashItem(s.doc, args[1]!, name) && !trash.trashEntry(s.doc, args[1]!, name)) throw new Exit(66, `cove: no item or checklist entry with id ${args[1]!} in this space (outside the Trash)`)
      return undefined
    },
    restore: s => {
      need(args, 2)
      if (!trash.restore(s.doc, args[1]!)) throw new Exit(66, `cove: nothing with id ${args[1]!} in the Trash of this space`)
      return undefined
    }
  }
  if (cmd === 'spaces') {
    for (const s of known.list(home())) process.stdout.write(`${s.id}\t${s.alias ?? '-'}\t${s.link.includes('#edit1.') ? 'edit' : 'view'}\n`)
    return 0
  }
  const isEdit = cmd in editCommands || cmd === 'add-note'
  if (!isEdit && !['cat', 'watch', 'history', 'snapshot', 'link', 'open', 'members', 'remove', 'rotate'].includes(cmd)) throw new Exit(64, `cove: unknown command ${cmd}\n${USAGE}`)
  if (values.as !== undefined && !known.validAlias(values.as)) throw new Exit(64, `cove: "${values.as}" cannot be an alias`)

  const { inv, link, fromArgv } = await invite(args[0])
  if (fromArgv) process.stderr.write(ARGV_NOTE)
  if (isEdit && inv.mode === 'view') throw new Exit(77, 'cove: this is a view-only link; it can read the space but not change it')
  const noteText = cmd === 'add-note' ? (need(args, 2), args[1] === '-' ? await readStdin() : args[1]!) : ''
  const client = await makeClient(relays)
  try {
    const first = await client.openSpace(inv, relay)
    known.remember(home(), inv, link, values.as)
    // How the other members see this device (issue 11): sealed, sent with its member record on joining.
    const profile = { name, colour: colourOf(process.env.COVE_COLOUR) }
    first.members.setProfile(profile)
    first.events.on('epoch', () => {})
    // Joins, following key changes into a new epoch (issue 11).
    const joined = await epochs.joinCurrent(client, first, timeout)
    let space = joined.space
    space.members.setProfile(profile)
    if ('removed' in joined) throw new Exit(69, `cove: ${joined.removed}; what this device has stays here (${space.unsynced} change(s) not sent)`)
    const online = joined.online
    const relayUrl = relay ?? inv.relayUrl
    const keep = (): void => {
      // The stored link follows the epoch (the old one opens nothing new).
      if (space.keys.epoch > inv.secrets.epoch) { const l = client.links(space, relayUrl); known.remember(home(), { relayUrl, mode: inv.mode, secrets: space.secrets }, l.editLink ?? l.viewLink) }
    }
    keep()
    if (cmd === 'remove' || cmd === 'rotate') {
      if (inv.mode === 'view') throw new Exit(77, 'cove: this is a view-only link; only editors can remove members or rotate the key')
      if (!online) throw new Exit(75, 'cove: the relay could not be reached; nothing was changed')
      await space.members.announce()
      const list = space.members.list()
      const pick = (ref: string): string => {
        const hits = list.filter(m => m.device.startsWith(ref.toLowerCase()) && ref.length >= 8)
        if (hits.length !== 1) throw new Exit(66, `cove: no single member device starts with ${ref} (see cove members)`)
        if (hits[0]!.self) throw new Exit(64, 'cove: this device cannot remove itself; ask another editor, or use cove leave in the web app')
        return hits[0]!.device
      }
      const opts = cmd === 'remove' ? { remove: (need(args, 2), args.slice(1).map(pick)) } : values.keep === undefined ? {} : { keep: values.keep.split(',').filter(x => x !== '').map(pick) }
      const t0 = performance.now()
      const r = await epochs.rotate(client, space, opts, timeout)
      space = r.space
      if (r.result === 'read-only') throw new Exit(77, 'cove: this device holds no write certificate')
      if (r.result === 'removed') throw new Exit(69, 'cove: a rival rotation removed this device')
      if (r.result !== 'stored') throw new Exit(75, 'cove: the relay did not take the rotation; nothing was changed')
      keep()
      process.stderr.write(`cove: the space moved to epoch ${space.keys.epoch} in ${Math.round(performance.now() - t0)} ms; the old links open nothing new. New links:\n`)
      printLinks(client.links(space, relayUrl))
      return 0
    }
    if (cmd === 'members') {
      if (!online) throw new Exit(75, 'cove: the relay could not be reached; the members list lives with the members')
      await space.members.announce()
      printMembers(space.members.list(), values.json === true)
      return 0
    }
    if (cmd === 'open') {
      if (!online) process.stderr.write('cove: the relay could not be reached; the space is known here and will sync on the next command that reaches it\n')
      process.stdout.write(`space: ${toHex(inv.secrets.spaceId)}${values.as === undefined ? '' : ` (here: ${values.as})`} ${inv.mode}\n`)
      return 0
    }
    if (cmd === 'snapshot') {
      if (inv.mode === 'view') throw new Exit(77, 'cove: this is a view-only link; snapshots are sealed by writers')
      if (!online) throw new Exit(75, 'cove: the relay could not be reached')
      await space.whenStored(timeout)
      const r = await space.snapshot()
      if (r === 'skipped') throw new Exit(75, 'cove: no snapshot was made (not caught up with the relay yet); try again')
      const [newest] = await space.history(1)
      process.stdout.write(`snapshot #${newest?.seq ?? '?'} ${r === 'stored' ? 'stored' : 'made by another writer at the same moment'}\n`)
      return 0
    }
    if (cmd === 'history' || (cmd === 'cat' && values.at !== undefined)) {
      if (!online) throw new Exit(75, 'cove: the relay could not be reached; snapshot history lives on the relay')
      const snaps = await space.history(64)
      if (cmd === 'history') {
        if (snaps.length === 0) process.stdout.write('no snapshots yet\n')
        for (const h of snaps) process.stdout.write(`#${h.seq}\t${new Date(h.createdAt).toISOString()}\tcovers cursor ${h.covers}\t${h.bytes} bytes\n`)
        return 0
      }
      const at = Number(values.at)
      const snap = snaps.find(h => h.seq === at)
      if (snap === undefined) throw new Exit(66, `cove: no snapshot #${values.at} (the relay keeps: ${snaps.map(h => `#${h.seq}`).join(' ') || 'none'})`)
      const doc = new Y.Doc()
      Y.applyUpdateV2(doc, snap.state)
      print(doc)
      return 0
    }
    if (online && (cmd === 'cat' || cmd === 'watch' || cmd === 'link')) await fresh(space, timeout)
    if (cmd === 'link') {
      if (!online) process.stderr.write('cove: the relay could not be reached; the links vouch for this device\'s local copy\n')
      printLinks(client.links(space, relay ?? inv.relayUrl))
      return 0
    }
    if (cmd === 'cat') {
      if (!online) process.stderr.write('cove: the relay could not be reached; showing the local copy\n')
      else {
        await space.whenStored(timeout).catch(() => {})
        // Members' receipts name changes this device lacks: give the relay its chance to serve
        // them before saying it withholds them (issue 8).
        // (The session judges what is late on its receipt tick: withheld, or covered by a snapshot.)
        const until = Date.now() + Math.min(timeout, space.receipts.withholdMs * 1.5 + 2000)
        while (space.receipts.owing > 0 && !space.alerts.some(a => a.code === 'sync/withheld') && Date.now() < until) await new Promise(resolve => setTimeout(resolve, 100))
      }
      print(space.doc)
      for (const a of space.alerts) if (UNTRUSTED.has(a.code)) process.stderr.write(alertLine(a))
      return untrusted(space) ? 76 : 0
    }
    if (cmd === 'watch') return await watch(space)
    const id = cmd === 'add-note' ? model.addNote(space.doc, noteText) : editCommands[cmd]!(space)
    await commit(space, timeout, online)
    if (id !== undefined) process.stdout.write(`${id}\n`)
    return 0
  } finally {
    await client.close()
  }
}

/** What `cat` prints: the space as JSON, each note with its Markdown structure (`blocks`). */
function catJSON (doc: Y.Doc, opts: { trash: boolean }): unknown {
  const json = model.toJSON(doc, opts)
  return { ...json, items: json.items.map(i => i.kind === 'note' ? { ...i, blocks: noteBlocks(i.text) } : i) }
}

/** `cat --md`: each note's Markdown as written, after a comment naming it, in the space's order. */
function notesMarkdown (doc: Y.Doc, opts: { trash: boolean }): string {
  return model.toJSON(doc, opts).items.flatMap(i => i.kind === 'note' ? [`<!-- note ${i.id}${i.trashed === undefined ? '' : ' (in the Trash)'} -->\n${i.text}\n`] : []).join('\n')
}

/** COVE_COLOUR as a palette index (0 when unset or not one). */
function colourOf (v: string | undefined): number {
  const n = Number(v ?? 0)
  return Number.isInteger(n) && n >= 0 && n < 8 ? n : 0
}

/**
 * `cove members`: one line per device (this one marked), or with --json an array of
 * { device (hex key), name, colour, role ('edit' | 'view'), lastSeen (ms since the epoch, or null), self }.
 */
function printMembers (list: readonly Member[], json: boolean): void {
  if (json) {
    process.stdout.write(JSON.stringify(list.map(m => ({ device: m.device, name: m.name, colour: m.colour, role: m.role, lastSeen: m.lastSeen ?? null, self: m.self })), null, 2) + '\n')
    return
  }
  for (const m of list) {
    const seen = m.lastSeen === undefined ? 'never' : new Date(m.lastSeen).toISOString()
    process.stdout.write(`${m.device.slice(0, 16)}\t${m.name === '' ? '(no name)' : m.name}\t${m.role}\t${seen}${m.self ? '\tthis device' : ''}\n`)
  }
}

function printLinks (l: { editLink?: string; viewLink: string }): void {
  process.stdout.write(`${l.editLink === undefined ? '' : `edit link: ${l.editLink}\n`}view link: ${l.viewLink}\n`)
}

/**
 * Waits (at most `timeout`) until the session has judged the invite link's checkpoint (issue 8):
 * reached, or `sync/stale-join` raised. A new device opening an old link is told it cannot check.
 */
async function fresh (space: Space, timeout: number): Promise<void> {
  const until = Date.now() + timeout
  while (space.status.freshness?.state === 'checking' && Date.now() < until) await new Promise(resolve => setTimeout(resolve, 50))
  if (space.status.freshness?.state === 'unchecked') process.stderr.write(UNCHECKED)
}

const UNCHECKED = 'cove: note (sync/freshness-unchecked): this link carries no checkpoint (made by an older Cove), so this new device cannot check that the relay served the current space; ask a member for a new link, or compare the space code\n'

function need (args: string[], n: number): void {
  if (args.length < n) throw new Exit(64, USAGE)
}

/**
 * Alerts meaning the relay lied (or a member forged history): what this device shows may not be
 * the space as its members hold it. `cat` and `watch` exit 76 after one (README).
 */
const UNTRUSTED = new Set(['sync/withheld', 'sync/stale-join', 'sync/fork', 'sync/equivocation', 'sync/chain-mismatch', 'sync/missing-entries', 'sync/ack-unbacked', 'envelope/bad-signature', 'envelope/bad-cert', 'snapshot/contradicts-stream'])
const alertLine = (a: Alert): string => `cove: security alert: ${a.code}: ${a.message}\n`
const untrusted = (space: Space): boolean => {
  const bad = space.alerts.filter(a => UNTRUSTED.has(a.code))
  if (bad.length > 0) process.stderr.write(`cove: this copy cannot be trusted: ${[...new Set(bad.map(a => a.code))].join(', ')}; compare the space code with a member you trust\n`)
  return bad.length > 0
}

async function watch (space: Space): Promise<number> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const print = (): void => {
    timer = undefined
    process.stdout.write(JSON.stringify(model.toJSON(space.doc)) + '\n')
  }
  print()
  // Those raised while catching up and judging the link's checkpoint, then each as it comes.
  for (const a of space.alerts) process.stderr.write(alertLine(a))
  space.events.on('remote', () => { timer ??= setTimeout(print, 30) })
  space.events.on('alert', a => process.stderr.write(alertLine(a)))
  space.events.on('cleared', code => process.stderr.write(`cove: resolved: ${code} no longer holds\n`))
  space.events.on('status', s => process.stderr.write(`cove: ${s.connection}${s.unsynced > 0 ? `, ${s.unsynced} unsent` : ''}\n`))
  await new Promise<void>(resolve => {
    process.once('SIGINT', resolve)
    process.once('SIGTERM', resolve)
  })
  return untrusted(space) ? 76 : 0
}

main(process.argv.slice(2)).then(code => {
  process.exitCode = code
}, e => {
  if (e instanceof Exit) {
    process.stderr.write(e.message + '\n')
    process.exitCode = e.code
  } else {
    process.stderr.write(`cove: ${e instanceof Error ? e.message : String(e)}\n`)
    process.exitCode = 1
  }
})
