import fs from 'node:fs'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { SpaceJSON } from '../../client/core/model.js'
import { readFrame } from '../../shared/frame.js'
import { bundleCli, cove, startCove, startRelayChild, type CliRunner, type RelayChild, type Run } from '../support/cli.js'
import { startHostileProxy, type HostileProxy } from '../support/proxy.js'
import { tempDir } from '../support/relay.js'

/**
 * Issue 7, item 1: a stream is written by exactly one process, once. Real processes only: a relay
 * child on 127.0.0.1 with its SQLite file, and one `cove` process per command. The CLIs reach the
 * relay through an honest pass-through proxy (test/support/proxy.ts, every attack off) that only
 * reads the relay's answers, so a `store/equivocation` refusal sent to any process is seen even
 * though the relay does not log it.
 *
 *  1. `cove watch` running from home H while 50 rounds of two editing commands run at the same time
 *     from the same H: every command exits 0, a fresh reader and the watch see all 100 texts, the
 *     watch printed no alert and still runs, and the relay refused nothing as equivocation.
 *  2. A home copied (`cp -r`) after some edits, then used from both copies in turn (10 rounds).
 *  3. A home restored from an older backup, with and without the relay having pruned the entries
 *     the backup's device had written since (after a prune `store/pruned` was taken as an ack: the
 *     edit was lost while the command exited 0).
 *
 * Before the fix both processes sealed the same seq of the device's one stream (the state each
 * loaded named the same next seq): from then on every edit from that home exited 75 although the
 * relay was up, and a restarted watch looped on sync/equivocation.
 *
 * The CLI is compiled once with esbuild (test/support/cli.ts): a command then costs ~0.2 s instead
 * of ~0.7 s under tsx, which keeps the 100 + commands of this file within about a minute.
 * MULTIPROCESS_ROUNDS=200 raises the rounds of case 1.
 */
const ROUNDS = Number(process.env.MULTIPROCESS_ROUNDS ?? 50)
const COPY_ROUNDS = 10

let cli: CliRunner
let relay: RelayChild
let pruning: RelayChild
let proxy: HostileProxy
let pruningProxy: HostileProxy
/** Every error code the relays sent to any CLI process, with the frame's message. */
const refusals: string[] = []
const dirs: string[] = []

const dir = (prefix: string): string => {
  const d = tempDir(prefix)
  dirs.push(d)
  return d
}

function snoop (p: HostileProxy): void {
  p.onFrame = (direction, bytes) => {
    if (direction !== 'toClient') return
    const f = readFrame(bytes)
    if (f.ok && f.value.type === 'error') refusals.push(`${f.value.code}: ${f.value.message}`)
  }
}

const equivocations = (): string[] => refusals.filter(r => r.includes('equivocation'))

function describeRun (what: string, r: Run): string {
  return `${what} exited ${String(r.code)}${r.signal === null ? '' : ` (${r.signal})`} after ${r.ms} ms\nstdout: ${r.stdout.trim()}\nstderr: ${r.stderr.trim()}`
}

/** Fails with the command's output unless it exited 0. */
function expectOk (what: string, r: Run): void {
  if (r.code !== 0) throw new Error(`${describeRun(what, r)}\nrelay refusals so far: ${JSON.stringify(refusals.slice(-5))}`)
}

async function createSpace (home: string, relayUrl: string, title: string): Promise<{ edit: string; view: string }> {
  const r = await cove(cli, home, ['create', '--relay', relayUrl, '--title', title])
  expectOk('create', r)
  const edit = /^edit link: (\S+)$/m.exec(r.stdout)?.[1]
  const view = /^view link: (\S+)$/m.exec(r.stdout)?.[1]
  if (edit === undefined || view === undefined) throw new Error(`create printed no links: ${r.stdout}`)
  return { edit, view }
}

/** Every note text and checklist entry text of a space. */
function textsOf (s: SpaceJSON): Set<string> {
  const out = new Set<string>()
  for (const i of s.items) {
    if (i.kind === 'note') out.add(i.text)
    if (i.kind === 'checklist') for (const e of i.entries) out.add(e.text)
  }
  return out
}

/** What a device that never saw the space reads from the relay (`cove cat` from a fresh home). */
async function freshRead (view: string, via: string): Promise<Set<string>> {
  const r = await cove(cli, dir('cove-mp-reader-'), ['cat', view, '--relay', via])
  expectOk('cat from a fresh home', r)
  return textsOf(JSON.parse(r.stdout) as SpaceJSON)
}

function missing (want: readonly string[], have: Set<string>): string[] {
  return want.filter(t => !have.has(t))
}

beforeAll(async () => {
  const t0 = Date.now()
  const [c, r1, r2] = await Promise.all([
    bundleCli(),
    startRelayChild(dir('cove-mp-relay-')),
    // Prunes what a snapshot covers 300 ms after it (default 5 min): case 3 needs the prune.
    startRelayChild(dir('cove-mp-relay-pruning-'), ['--prune-grace-ms', '300'])
  ])
  cli = c
  relay = r1
  pruning = r2
  proxy = await startHostileProxy({ target: relay.url, seed: 1 })
  pruningProxy = await startHostileProxy({ target: pruning.url, seed: 2 })
  snoop(proxy)
  snoop(pruningProxy)
  console.log(`[multiprocess] CLI ${cli.how}; setup ${Date.now() - t0} ms`)
})

afterAll(async () => {
  await proxy?.close()
  await pruningProxy?.close()
  await relay?.stop()
  await pruning?.stop()
  cli?.dispose()
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true })
})

describe('several cove processes on one $COVE_HOME', () => {
  it(`a watch and ${ROUNDS} rounds of two concurrent edits from the same home: every edit stored and seen, no alert`, async () => {
    const home = dir('cove-mp-home-')
    const { edit, view } = await createSpace(home, relay.url, 'Two processes')
    const watch = startCove(cli, home, ['watch', edit, '--relay', proxy.url])
    const t0 = Date.now()
    const written: string[] = []
    const spawnMs: number[] = []
    try {
      // The watch has joined once it printed the space the first time.
      const start = Date.now()
      while (!watch.out.stdout.includes('\n')) {
        if (!watch.running) throw new Error(`watch exited early: ${watch.out.stderr}`)
        if (Date.now() - start > 20_000) throw new Error(`watch printed nothing: ${watch.out.stderr}`)
        await new Promise(resolve => setTimeout(resolve, 20))
      }

      for (let round = 0; round < ROUNDS; round++) {
        const todo = `todo ${round}`
        const note = `note ${round}`
        written.push(todo, note)
        const [a, b] = await Promise.all([
          cove(cli, home, ['add-todo', edit, todo, '--relay', proxy.url]),
          cove(cli, home, ['add-note', edit, note, '--relay', proxy.url])
        ])
        spawnMs.push(a.ms, b.ms)
        // The relay is up the whole time: 75 ("could not be reached") is a wedged device.
        expectOk(`round ${round}: add-todo`, a)
        expectOk(`round ${round}: add-note`, b)
      }
      const roundsMs = Date.now() - t0

      const seen = await freshRead(view, relay.url)
      expect(missing(written, seen), 'texts a fresh reader does not see').toEqual([])

      // The watch shows the space as it changes, edits made by other processes of its home included.
      const lastLine = (): SpaceJSON | undefined => {
        const lines = watch.out.stdout.trim().split('\n')
        try { return JSON.parse(lines[lines.length - 1]!) as SpaceJSON } catch { return undefined }
      }
      const deadline = Date.now() + 5000
      while (Date.now() < deadline && missing(written, textsOf(lastLine() ?? { title: '', items: [] })).length > 0) {
        await new Promise(resolve => setTimeout(resolve, 50))
      }
      expect.soft(missing(written, textsOf(lastLine() ?? { title: '', items: [] })), 'texts the watch (same home) never printed').toEqual([])

      expect.soft(watch.running, `the watch exited: ${watch.out.stderr.slice(-2000)}`).toBe(true)
      const alertLines = watch.out.stderr.split('\n').filter(l => /security alert/.test(l))
      expect.soft(alertLines.slice(0, 10), 'alert lines printed by the watch').toEqual([])
      expect.soft(equivocations(), 'equivocation refusals sent by the relay').toEqual([])
      expect.soft(relay.log().match(/.*equivocation.*/g) ?? [], 'equivocation in the relay log').toEqual([])
      const sorted = [...spawnMs].sort((x, y) => x - y)
      console.log(`[multiprocess] ${ROUNDS} rounds in ${roundsMs} ms; per command median ${sorted[Math.floor(sorted.length / 2)]} ms, max ${sorted[sorted.length - 1]} ms; relay connections ${relay.connections()}`)
    } finally {
      const end = await watch.stop()
      if (end.code !== 0) console.log(`[multiprocess] watch ended with ${JSON.stringify(end)}; stderr tail: ${watch.out.stderr.slice(-1000)}`)
    }
    // 100 CLI processes (tsx): about 1 s each alone, 3 s when the suite loads both cores.
  }, 400_000)

  it(`a copied $COVE_HOME used from both copies in turn (${COPY_ROUNDS} rounds): both keep working, nothing lost`, async () => {
    const home = dir('cove-mp-orig-')
    const { edit, view } = await createSpace(home, relay.url, 'Copied home')
    const written: string[] = []
    for (let i = 0; i < 3; i++) {
      const text = `before the copy ${i}`
      written.push(text)
      expectOk(`edit ${i} before the copy`, await cove(cli, home, ['add-note', edit, text, '--relay', proxy.url]))
    }
    const copy = dir('cove-mp-copy-')
    fs.cpSync(home, copy, { recursive: true })
    const before = equivocations().length
    for (let round = 0; round < COPY_ROUNDS; round++) {
      for (const [name, h] of [['original', home], ['copy', copy]] as const) {
        const text = `${name} ${round}`
        written.push(text)
        expectOk(`round ${round}: add-note from the ${name}`, await cove(cli, h, ['add-note', edit, text, '--relay', proxy.url]))
      }
    }
    expect(missing(written, await freshRead(view, relay.url)), 'texts a fresh reader does not see').toEqual([])
    // And each copy, reading again, holds everything too.
    for (const h of [home, copy]) {
      const r = await cove(cli, h, ['cat', view, '--relay', proxy.url])
      expectOk('cat from a copy', r)
      expect.soft(missing(written, textsOf(JSON.parse(r.stdout) as SpaceJSON)), `texts missing at ${path.basename(h)}`).toEqual([])
    }
    expect(equivocations().slice(before), 'equivocation refusals sent by the relay').toEqual([])
  })

  for (const prune of [false, true]) {
    it(`a home restored from an older backup${prune ? ', after the relay pruned what the device wrote since' : ''}: its edits arrive and exit codes are true`, async () => {
      const r = prune ? pruning : relay
      const via = prune ? pruningProxy.url : proxy.url
      const home = dir('cove-mp-live-')
      const { edit, view } = await createSpace(home, r.url, 'Backup')
      const written: string[] = []
      const edit1 = async (h: string, text: string): Promise<void> => {
        written.push(text)
        expectOk(`add-note "${text}"`, await cove(cli, h, ['add-note', edit, text, '--relay', via]))
      }
      for (let i = 0; i < 2; i++) await edit1(home, `before the backup ${i}`)
      const backup = dir('cove-mp-backup-')
      fs.cpSync(home, backup, { recursive: true })
      for (let i = 0; i < 3; i++) await edit1(home, `after the backup ${i}`)
      // Another member's device is online (a relay may prune under a snapshot only once a member
      // other than its author vouched for it).
      const member = prune ? startCove(cli, dir('cove-mp-member-'), ['watch', edit, '--relay', via]) : undefined
      try {
        if (member !== undefined) {
          const start = Date.now()
          while (!member.out.stdout.includes('\n')) {
            if (!member.running || Date.now() - start > 20_000) throw new Error(`the member's watch did not start: ${member.out.stderr}`)
            await new Promise(resolve => setTimeout(resolve, 20))
          }
          // A snapshot covering everything, then the relay drops the log under it.
          expectOk('snapshot', await cove(cli, home, ['snapshot', edit, '--relay', via]))
          const deadline = Date.now() + 15_000
          while (!/pruned [1-9]\d* entries/.test(r.log())) {
            if (Date.now() > deadline) throw new Error(`the relay did not prune (this case needs it): ${r.log().slice(-2000)}`)
            await new Promise(resolve => setTimeout(resolve, 50))
          }
        }
        const before = equivocations().length
        // The device is used again from the backup: it must not seal seqs its stream already used.
        for (let i = 0; i < 3; i++) await edit1(backup, `from the backup ${i}`)
        await edit1(home, 'from the live home again')
        expect(missing(written, await freshRead(view, r.url)), 'texts a fresh reader does not see').toEqual([])
        expect(equivocations().slice(before), 'equivocation refusals sent by the relay').toEqual([])
        if (member !== undefined) expect(member.out.stderr.split('\n').filter(l => /security alert/.test(l)), 'alerts printed by the other member').toEqual([])
      } finally {
        await member?.stop()
      }
    })
  }
})
