import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process'
import fs from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import Database from 'better-sqlite3'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { SpaceJSON } from '../../client/core/model.js'
import { tempDir } from '../support/relay.js'

/**
 * The CLI end to end: real processes only. A relay child (`relay/main.ts` with its SQLite file) and
 * one `cove` process per command, each device being its own COVE_HOME. Every spawn costs ~0.5–1 s
 * (tsx), so the scenario is one chain of commands that each check something.
 */
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
const CLI = 'client/cli/main.ts'

interface Run { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }

function spawnTsx (script: string, args: string[], env: NodeJS.ProcessEnv = {}): ChildProcessWithoutNullStreams {
  return spawn(process.execPath, ['--import', 'tsx', script, ...args], { cwd: ROOT, env: { ...process.env, ...env }, stdio: 'pipe' })
}

/** Runs one `cove` command as device `home`; resolves when it exits (killed after `timeoutMs`). */
function cove (home: string, args: string[], opts: { stdin?: string; timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<Run> {
  const child = spawnTsx(CLI, args, { ...opts.env, COVE_HOME: home })
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d })
  child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d })
  child.stdin.end(opts.stdin ?? '')
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`cove ${args.join(' ')} did not exit within ${opts.timeoutMs ?? 20_000} ms\nstdout: ${stdout}\nstderr: ${stderr}`))
    }, opts.timeoutMs ?? 20_000)
    child.on('error', reject)
    child.on('close', (code, signal) => { clearTimeout(timer); resolve({ code, signal, stdout, stderr }) })
  })
}

/** `cove cat` as JSON, failing loudly with the process output if it did not succeed. */
async function cat (home: string, link: string, extra: string[] = []): Promise<SpaceJSON> {
  const r = await cove(home, ['cat', link, ...extra])
  expect(r.code, r.stderr).toBe(0)
  return JSON.parse(r.stdout) as SpaceJSON
}

/** A port nothing listens on (bound, then released). */
async function closedPort (): Promise<number> {
  const srv = net.createServer()
  await new Promise<void>(resolve => srv.listen(0, '127.0.0.1', () => resolve()))
  const port = (srv.address() as net.AddressInfo).port
  await new Promise<void>(resolve => srv.close(() => resolve()))
  return port
}

let relay: ChildProcessWithoutNullStreams | undefined
let relayUrl = ''
let relayLog = ''
let dataDir = ''
const home = { a: '', b: '', c: '', d: '', e: '', f: '' }
let editLink = ''
let viewLink = ''

/** Entries in the relay's durable log, read from its SQLite file. */
function relayRows (): number {
  const db = new Database(path.join(dataDir, 'relay.sqlite'), { readonly: true })
  try {
    return (db.prepare('SELECT count(*) AS n FROM log').get() as { n: number }).n
  } finally {
    db.close()
  }
}

beforeAll(async () => {
  dataDir = tempDir('cove-cli-relay-')
  for (const k of Object.keys(home) as Array<keyof typeof home>) home[k] = tempDir(`cove-cli-${k}-`)
  relay = spawnTsx('relay/main.ts', ['--port', '0', '--data', dataDir])
  relay.stderr.setEncoding('utf8').on('data', (d: string) => { relayLog += d })
  relayUrl = await new Promise<string>((resolve, reject) => {
    let out = ''
    const timer = setTimeout(() => reject(new Error(`relay did not start: ${out} ${relayLog}`)), 20_000)
    relay!.stdout.setEncoding('utf8').on('data', (d: string) => {
      out += d
      const m = /relay listening on (ws:\/\/\S+)/.exec(out)
      if (m !== null) { clearTimeout(timer); resolve(m[1]!) }
    })
    relay!.on('exit', code => { clearTimeout(timer); reject(new Error(`relay exited with ${code}: ${relayLog}`)) })
  })
})

afterAll(async () => {
  if (relay !== undefined && relay.exitCode === null) {
    const exited = new Promise(resolve => relay!.once('exit', resolve))
    relay.kill('SIGTERM')
    await exited
  }
  for (const d of [dataDir, ...Object.values(home)]) if (d !== '') fs.rmSync(d, { recursive: true, force: true })
})

describe('cove CLI against a real relay process', () => {
  it('create prints an edit and a view link', async () => {
    const r = await cove(home.a, ['create', '--relay', relayUrl, '--title', 'Trip'])
    expect(r.code, r.stderr).toBe(0)
    const edit = /^edit link: (\S+)$/m.exec(r.stdout)
    const view = /^view link: (\S+)$/m.exec(r.stdout)
    expect(edit).not.toBeNull()
    expect(view).not.toBeNull()
    editLink = edit![1]!
    viewLink = view![1]!
    const port = new URL(relayUrl).port
    // The key, then the freshness checkpoint of what the creator stored (PROTOCOL.md, Invite links).
    expect(editLink).toMatch(new RegExp(`^http://127\\.0\\.0\\.1:${port}/#edit1\\.[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+$`))
    expect(viewLink).toMatch(new RegExp(`^http://127\\.0\\.0\\.1:${port}/#view1\\.[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+$`))
    // The secret never reached the relay: it is only in the fragment, and not in the relay's log.
    const secret = editLink.split('#')[1]!.slice(6)
    expect(relayLog).not.toContain(secret)
    expect(relayLog).not.toContain(viewLink.split('#')[1]!.slice(6))
  })

  it('title, add-note, add-link, add-todo, done, then cat from another device with the view link', async () => {
    const t = await cove(home.a, ['title', editLink, 'Trip to Lisbon'])
    expect(t.code, t.stderr).toBe(0)
    const n = await cove(home.a, ['add-note', editLink, 'Book the train'])
    expect(n.code, n.stderr).toBe(0)
    const noteId = n.stdout.trim()
    expect(noteId).toMatch(/^[a-z0-9]{8}$/)
    const l = await cove(home.a, ['add-link', editLink, 'https://example.com/tickets', 'Tickets'])
    expect(l.code, l.stderr).toBe(0)
    const todo = await cove(home.a, ['add-todo', editLink, 'Pack the bags'])
    expect(todo.code, todo.stderr).toBe(0)
    const todoId = todo.stdout.trim()
    const done = await cove(home.a, ['done', editLink, todoId])
    expect(done.code, done.stderr).toBe(0)
    const unknown = await cove(home.a, ['done', editLink, 'nosuchid'])
    expect(unknown.code).toBe(66)

    const s = await cat(home.b, viewLink)
    expect(s.title).toBe('Trip to Lisbon')
    expect(s.items).toEqual(expect.arrayContaining([
      expect.objectContaining({ id: noteId, kind: 'note', text: 'Book the train' }),
      expect.objectContaining({ kind: 'link', url: 'https://example.com/tickets', title: 'Tickets' }),
      expect.objectContaining({ kind: 'checklist', entries: [{ id: todoId, text: 'Pack the bags', done: true }] })
    ]))
    expect(s.items).toHaveLength(3)
  })

  it('add-note <link> - reads the note from stdin', async () => {
    const r = await cove(home.a, ['add-note', editLink, '-'], { stdin: 'line one\nline two, with ünïcode\n' })
    expect(r.code, r.stderr).toBe(0)
    const id = r.stdout.trim()
    const s = await cat(home.b, viewLink)
    expect(s.items).toEqual(expect.arrayContaining([{ id, kind: 'note', created: expect.any(Number), text: 'line one\nline two, with ünïcode', blocks: [{ type: 'paragraph', text: 'line one\nline two, with ünïcode' }] }]))
  })

  it('rm moves a note to the Trash: cat leaves it out, cat --trash marks it, restore brings it back (issue 9)', async () => {
    const id = (await cove(home.a, ['add-note', editLink, 'to the Trash and back'])).stdout.trim()
    const rm = await cove(home.a, ['rm', editLink, id], { env: { COVE_NAME: 'Ana' } })
    expect(rm.code, rm.stderr).toBe(0)
    expect((await cat(home.b, viewLink)).items.map(i => i.id)).not.toContain(id)
    expect((await cat(home.b, viewLink, ['--trash'])).items).toEqual(expect.arrayContaining([
      expect.objectContaining({ id, kind: 'note', text: 'to the Trash and back', trashed: { at: expect.any(Number), by: 'Ana' } })
    ]))
    const back = await cove(home.a, ['restore', editLink, id])
    expect(back.code, back.stderr).toBe(0)
    expect((await cove(home.a, ['restore', editLink, id])).code).toBe(66)
    expect((await cat(home.b, viewLink)).items).toEqual(expect.arrayContaining([{ id, kind: 'note', created: expect.any(Number), text: 'to the Trash and back', blocks: [{ type: 'paragraph', text: 'to the Trash and back' }] }]))
  })

  it('refuses an edit through a view-only link (77) and a malformed link (65)', async () => {
    const rows = relayRows()
    const [view, bad, damaged] = await Promise.all([
      cove(home.b, ['add-note', viewLink, 'should not be written']),
      cove(home.b, ['add-note', 'not a link', 'x']),
      cove(home.b, ['cat', editLink.slice(0, -5)])
    ])
    expect(view.code).toBe(77)
    expect(view.stderr).toMatch(/view-only link/)
    expect(bad.code).toBe(65)
    expect(bad.stderr).toMatch(/not a valid Cove link/)
    expect(damaged.code).toBe(65)
    expect(damaged.stderr).toMatch(/not a valid Cove link/)
    expect(relayRows()).toBe(rows)
  })

  it('with the relay unreachable an edit exits 75, is kept, and the next command that reaches the relay sends it', async () => {
    const port = await closedPort()
    const rows = relayRows()
    const off = await cove(home.c, ['add-note', editLink, 'written offline', '--relay', `ws://127.0.0.1:${port}`, '--timeout', '1000'])
    expect(off.code, off.stderr).toBe(75)
    expect(off.stderr).toMatch(/relay could not be reached/)
    expect(off.stderr).toMatch(/saved locally/)
    expect(relayRows()).toBe(rows)

    // Any next command on that device that reaches the relay (here a plain `cat`) sends it.
    const local = await cat(home.c, editLink)
    expect(local.items.some(i => i.kind === 'note' && i.text === 'written offline')).toBe(true)
    expect(relayRows()).toBe(rows + 1)
    const s = await cat(home.b, viewLink)
    expect(s.items.some(i => i.kind === 'note' && i.text === 'written offline')).toBe(true)
  })

  it('watch prints a change made by another command', async () => {
    const child = spawnTsx(CLI, ['watch', viewLink], { COVE_HOME: home.d })
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d })
    child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d })
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>(resolve => child.on('close', (code, signal) => resolve({ code, signal })))
    const until = async (cond: () => boolean, what: string, ms = 15_000): Promise<void> => {
      const start = Date.now()
      while (!cond()) {
        if (child.exitCode !== null) throw new Error(`watch exited (${child.exitCode}) before ${what}: ${stderr}`)
        if (Date.now() - start > ms) throw new Error(`timed out waiting for ${what}; stdout: ${stdout} stderr: ${stderr}`)
        await new Promise(resolve => setTimeout(resolve, 20))
      }
    }
    try {
      // First line: the space as it is (after catching up).
      await until(() => stdout.includes('\n'), 'the first snapshot')
      const first = JSON.parse(stdout.split('\n')[0]!) as SpaceJSON
      expect(first.title).toBe('Trip to Lisbon')
      expect(stdout).not.toContain('watched change')

      const r = await cove(home.a, ['add-note', editLink, 'watched change'])
      expect(r.code, r.stderr).toBe(0)
      await until(() => stdout.split('\n').some(l => l.includes('watched change')), 'the change to be printed')
      const line = stdout.split('\n').find(l => l.includes('watched change'))!
      const seen = JSON.parse(line) as SpaceJSON
      expect(seen.items[0]).toMatchObject({ kind: 'note', text: 'watched change' })
      expect(stderr).not.toMatch(/security alert/)
    } finally {
      child.kill('SIGINT')
    }
    const end = await exited
    expect(end).toEqual({ code: 0, signal: null })
  })

  it('link prints links with a checkpoint a new device reaches; an old link (none) opens with a note that freshness cannot be checked', async () => {
    const l = await cove(home.a, ['link', editLink])
    expect(l.code, l.stderr).toBe(0)
    const fresh = /^view link: (\S+)$/m.exec(l.stdout)![1]!
    expect(/^edit link: \S+\.\S+$/m.test(l.stdout)).toBe(true)
    expect(fresh.split('#')[1]!.split('.')).toHaveLength(3)
    expect(fresh).not.toBe(viewLink) // it names what was written since the space was created
    const joined = await cove(home.e, ['cat', fresh])
    expect(joined.code, joined.stderr).toBe(0)
    expect(joined.stderr).not.toMatch(/freshness-unchecked|stale-join/)
    expect((JSON.parse(joined.stdout) as SpaceJSON).title).toBe('Trip to Lisbon')

    const old = viewLink.slice(0, viewLink.lastIndexOf('.'))
    const r = await cove(home.f, ['cat', old])
    expect(r.code, r.stderr).toBe(0)
    expect(r.stderr).toMatch(/sync\/freshness-unchecked/)
    expect((JSON.parse(r.stdout) as SpaceJSON).title).toBe('Trip to Lisbon')
  })
})

/** A relay process with extra flags; resolves with its URL and a stop function. */
async function relayWith (dir: string, args: string[]): Promise<{ url: string; stop (): Promise<void> }> {
  const child = spawnTsx('relay/main.ts', ['--data', dir, '--quiet', ...args])
  let err = ''
  child.stderr.setEncoding('utf8').on('data', (d: string) => { err += d })
  const url = await new Promise<string>((resolve, reject) => {
    let out = ''
    const timer = setTimeout(() => reject(new Error(`relay did not start: ${out} ${err}`)), 20_000)
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      out += d
      const m = /relay listening on (ws:\/\/\S+)/.exec(out)
      if (m !== null) { clearTimeout(timer); resolve(m[1]!) }
    })
    child.on('exit', code => { clearTimeout(timer); reject(new Error(`relay exited with ${code}: ${err}`)) })
  })
  return {
    url,
    stop: async () => {
      if (child.exitCode !== null) return
      const exited = new Promise(resolve => child.once('exit', resolve))
      child.kill('SIGTERM')
      await exited
    }
  }
}

describe('cove CLI against a relay with a small log quota', () => {
  it('an edit over the space quota exits 75 naming relay/quota, is kept, and is sent once the relay has room', async () => {
    const dir = tempDir('cove-cli-quota-relay-')
    const [writer, reader] = [tempDir('cove-cli-quota-a-'), tempDir('cove-cli-quota-b-')]
    const port = String(await closedPort())
    let r = await relayWith(dir, ['--port', port, '--max-log-bytes', '8192'])
    try {
      const made = await cove(writer, ['create', '--relay', r.url, '--title', 'Small'])
      expect(made.code, made.stderr).toBe(0)
      const edit = /^edit link: (\S+)$/m.exec(made.stdout)![1]!
      const view = /^view link: (\S+)$/m.exec(made.stdout)![1]!
      const big = Array.from({ length: 2500 }, (_, i) => (i * 7919).toString(36)).join(' ')
      const over = await cove(writer, ['add-note', edit, '-'], { stdin: big })
      expect(over.code, over.stderr).toBe(75)
      expect(over.stderr).toMatch(/relay refused the change \(sync\/quota: .*relay\/quota/)
      expect(over.stderr).toMatch(/saved locally \(1 unsent\)/)
      expect((await cat(reader, view)).items).toHaveLength(0)

      // More room: the next command on the writer's device sends the kept note.
      await r.stop()
      r = await relayWith(dir, ['--port', port, '--max-log-bytes', '1048576'])
      const local = await cat(writer, edit)
      expect(local.items).toHaveLength(1)
      expect((await cat(reader, view)).items).toEqual([expect.objectContaining({ kind: 'note', text: big })])
    } finally {
      await r.stop()
      for (const d of [dir, writer, reader]) fs.rmSync(d, { recursive: true, force: true })
    }
  }, 90_000)
})
