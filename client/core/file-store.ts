import crypto from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import * as map from 'lib0/map'
import type { SpaceStore, StoredSpace, WriteBatch } from './store.js'
import { crc32 } from './zip.js'

/**
 * Node adapter of the space store: one append-only journal file per space.
 *
 *   record := kind u8 • length u32be • payload • crc32 u32be
 *   kind   := 1 update | 2 meta | 3 outbox-add | 5 state
 *           | 6 outbox-drop (payload: SHA-256 of the envelope; every entry with that digest leaves)
 *           | 4 outbox-done (payload: count u32be; drops that many from the front; only read, never
 *             written since drops became by identity, so journals of older versions still load)
 *
 * Each `write` appends its records in one `write` call and `fsync`s before resolving, so every
 * acknowledged write survives `kill -9`. A torn or corrupt tail (a crash mid-append) is cut off:
 * nothing after it was ever acknowledged. `compact` writes a new file and renames it over the old
 * one (atomic on POSIX), then fsyncs the directory.
 *
 * Several processes may open one journal at once (`cove watch` beside `cove add-todo` on one
 * `$COVE_HOME`, issue 7), so every load, write and compact runs under a short exclusive lock
 * (`<journal>.lock`, see `createLock`) and, under it:
 * - checks that its fd is still the journal (another process's compact renamed a new file over
 *   it) and reopens if not, so no write goes to an unlinked inode;
 * - checks the records appended since it last looked (usually only its own, so nothing to read)
 *   and cuts a torn tail before appending behind it: a tail is torn only if its writer died
 *   holding the lock, never because a live writer is mid-append, since appends happen under the lock;
 * - on `compact`, re-reads the journal and keeps beside the new state every update this handle has
 *   not seen (by SHA-256 of its bytes: what another process appended, or another process's
 *   compacted state), and the whole outbox. A content digest, not a file offset, because another
 *   process's compaction moves records; an update present twice is harmless (applying a Yjs
 *   update again changes nothing), and what is kept is bounded by the number of concurrent writers.
 *
 * Mixing this version with an older one (which neither locks nor knows kind 6) on one home is not safe.
 */
const KIND = { update: 1, meta: 2, outboxAdd: 3, outboxDone: 4, state: 5, outboxDrop: 6 } as const

/** A lock older than this is taken to be left by a hung or dead process whose pid was reused. */
export const LOCK_STALE_MS = 10_000
/** Longest sleep between two tries at a held lock; the wait starts at 1 ms. */
const LOCK_MAX_SLEEP_MS = 16

function record (kind: number, payload: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(9 + payload.length)
  out[0] = kind
  out.writeUInt32BE(payload.length, 1)
  out.set(payload, 5)
  out.writeUInt32BE(crc32(payload), 5 + payload.length)
  return out
}

const sha256 = (b: Uint8Array): Buffer => crypto.createHash('sha256').update(b).digest()
/** Identity of an update for "has this handle seen it" (see `compact`). */
const updateId = (u: Uint8Array): string => sha256(u).toString('base64')

function encodeBatch (b: WriteBatch): Buffer {
  const parts: Buffer[] = []
  for (const u of b.updates ?? []) parts.push(record(KIND.update, u))
  for (const e of b.outboxAdd ?? []) parts.push(record(KIND.outboxAdd, e))
  for (const e of b.outboxDrop ?? []) parts.push(record(KIND.outboxDrop, sha256(e)))
  if (b.meta !== undefined) parts.push(record(KIND.meta, b.meta))
  return Buffer.concat(parts)
}

/**
 * Walks the records of `buf`, calling `visit` for each whole one with a known kind. `end` is where
 * the valid records stop; `torn` says the bytes after it are a damaged tail, to be cut (an unknown
 * kind is not damage, only a newer writer: the rest is ignored, not cut).
 */
function scan (buf: Buffer, visit?: (kind: number, payload: Buffer) => void): { end: number; torn: boolean } {
  let pos = 0
  while (pos < buf.length) {
    if (pos + 9 > buf.length) return { end: pos, torn: true }
    const kind = buf[pos]!
    const len = buf.readUInt32BE(pos + 1)
    if (pos + 9 + len > buf.length) return { end: pos, torn: true }
    const payload = buf.subarray(pos + 5, pos + 5 + len)
    if (buf.readUInt32BE(pos + 5 + len) !== crc32(payload)) return { end: pos, torn: true }
    if (kind < KIND.update || kind > KIND.outboxDrop) return { end: buf.length, torn: false }
    visit?.(kind, payload)
    pos += 9 + len
  }
  return { end: pos, torn: false }
}

/** The space a journal describes, replaying its records in order. */
function replay (buf: Buffer): { space: StoredSpace; end: number; torn: boolean } {
  let meta: Uint8Array | undefined
  let updates: Uint8Array[] = []
  type Entry = { readonly e: Uint8Array; gone?: boolean }
  let outbox: Entry[] = []
  // The entries still in, by SHA-256, built at the first drop record: a drop looks up what it
  // names instead of filtering the whole outbox (one pass per record was quadratic in a journal
  // where thousands of envelopes were added, then let go).
  let byHash: Map<string, Entry[]> | undefined
  const index = (x: Entry): void => { map.setIfUndefined(byHash!, sha256(x.e).toString('hex'), (): Entry[] => []).push(x) }
  const r = scan(buf, (kind, p) => {
    switch (kind) {
      case KIND.update: updates.push(new Uint8Array(p)); break
      case KIND.state: updates = [new Uint8Array(p)]; break
      case KIND.meta: meta = new Uint8Array(p); break
      case KIND.outboxAdd: {
        const x: Entry = { e: new Uint8Array(p) }
        outbox.push(x)
        if (byHash !== undefined) index(x)
        break
      }
      case KIND.outboxDone:
        outbox = outbox.filter(x => x.gone !== true).slice(p.length >= 4 ? p.readUInt32BE(0) : 0)
        byHash = undefined
        break
      case KIND.outboxDrop: {
        if (byHash === undefined) {
          byHash = new Map()
          for (const x of outbox) if (x.gone !== true) index(x)
        }
        const d = p.toString('hex')
        for (const x of byHash.get(d) ?? []) x.gone = true
        byHash.delete(d)
        break
      }
    }
  })
  return { space: { meta, updates, outbox: outbox.filter(x => x.gone !== true).map(x => x.e) }, end: r.end, torn: r.torn }
}

const sleep = (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms))

function isAlive (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (e) {
    // EPERM: it exists, it is just not ours.
    return (e as NodeJS.ErrnoException).code !== 'ESRCH'
  }
}

const errCode = (e: unknown): string | undefined => (e as NodeJS.ErrnoException).code

/** Makes each lock this process takes tell apart from every other, in any process. */
const LOCK_NONCE = `${process.pid}.${crypto.randomBytes(6).toString('hex')}`
let lockCount = 0

/**
 * The cross-process lock: a symlink whose target names the owner (`pid.nonce.count`). Node has no
 * flock; a symlink is created atomically together with its content (no window where the lock
 * exists but its owner is unknown) and costs one syscall, about a third of create + write + close.
 * Enough here because the lock is held only for one synchronous load, write or compact (no await
 * inside), so a live process never holds it for long. POSIX only, like the rename in `compact`.
 */
function createLock (lockPath: string) {
  let held: string | undefined

  const tryTake = (): boolean => {
    const token = `${LOCK_NONCE}.${lockCount++}`
    try {
      fs.symlinkSync(token, lockPath)
    } catch (e) {
      if (errCode(e) === 'EEXIST') return false
      throw e
    }
    held = token
    return true
  }

  const owner = (p: string): string | undefined => {
    try {
      return fs.readlinkSync(p)
    } catch (e) {
      if (errCode(e) === 'ENOENT') return undefined
      throw e
    }
  }

  /**
   * Removes the lock if its owner is gone (pid not alive) or it is older than `LOCK_STALE_MS`.
   * It is renamed aside first and removed only if it is still the lock judged stale: a plain
   * `unlink` would remove a fresh lock that another process took after a third one broke the stale one.
   */
  const breakIfStale = (): void => {
    const token = owner(lockPath)
    if (token === undefined) return
    let age: number
    try {
      age = Date.now() - fs.lstatSync(lockPath).mtimeMs
    } catch (e) {
      if (errCode(e) === 'ENOENT') return
      throw e
    }
    const pid = Number.parseInt(token, 10)
    // Our own pid: a process never waits while it holds a lock (the critical section is
    // synchronous), so this one was left by an earlier process that had our pid (pids restart
    // low in containers).
    const dead = pid === process.pid || (Number.isSafeInteger(pid) && pid > 0 && !isAlive(pid))
    if (!dead && age <= LOCK_STALE_MS) return
    const aside = `${lockPath}.${LOCK_NONCE}.stale`
    try {
      fs.renameSync(lockPath, aside)
    } catch (e) {
      if (errCode(e) === 'ENOENT') return
      throw e
    }
    try {
      // We moved a lock taken after we looked: put it back, unless yet another was taken meanwhile.
      const moved = owner(aside)
      if (moved !== undefined && moved !== token) {
        try { fs.symlinkSync(moved, lockPath) } catch (e) { if (errCode(e) !== 'EEXIST') throw e }
      }
    } finally {
      fs.unlinkSync(aside)
    }
  }

  const release = (): void => {
    const mine = held
    held = undefined
    // Not ours any more (we were judged stale and someone took over): theirs to remove.
    if (mine !== undefined && owner(lockPath) === mine) fs.unlinkSync(lockPath)
  }

  return {
    /** Runs `fn` (synchronous) holding the lock; waits asynchronously, so the event loop keeps running meanwhile. */
    async with<T> (fn: () => T): Promise<T> {
      for (let wait = 1; !tryTake(); wait = Math.min(wait * 2, LOCK_MAX_SLEEP_MS)) {
        breakIfStale()
        if (tryTake()) break
        await sleep(wait * (0.5 + Math.random()))
      }
      try {
        return fn()
      } finally {
        release()
      }
    }
  }
}

const sameFile = (a: fs.Stats, b: fs.Stats): boolean => a.ino === b.ino && a.dev === b.dev

function readAt (fd: number, from: number, to: number): Buffer {
  const buf = Buffer.allocUnsafe(to - from)
  let n = 0
  while (n < buf.length) {
    const r = fs.readSync(fd, buf, n, buf.length - n, from + n)
    if (r === 0) return buf.subarray(0, n)
    n += r
  }
  return buf
}

function writeAll (fd: number, bytes: Buffer): void {
  let n = 0
  while (n < bytes.length) n += fs.writeSync(fd, bytes, n, bytes.length - n)
}

/**
 * The store the CLI keeps in `$COVE_HOME`, one journal per space. Safe to open from several
 * processes at once (see the module comment); each handle is one session's view, and `compact`
 * folds only what that handle has seen.
 */
export function createFileSpaceStore (file: string): SpaceStore {
  fs.mkdirSync(path.dirname(file), { recursive: true })
  const lock = createLock(`${file}.lock`)
  /** Read-append fd on the journal's inode as of this handle's last operation. */
  let fd: number | undefined
  /** A record boundary in `fd`'s file up to which every record is known whole. */
  let end = 0
  /** `updateId`s of the updates this handle loaded or wrote since: what a `compact` state covers. */
  let seen = new Set<string>()
  /** One operation at a time per handle, in call order: the lock is per process, not per call. */
  let queue: Promise<unknown> = Promise.resolve()

  const serial = <T>(fn: () => T): Promise<T> => {
    const p = queue.then(() => lock.with(fn))
    queue = p.catch(() => {})
    return p
  }

  const closeFd = (): void => {
    if (fd !== undefined) { fs.closeSync(fd); fd = undefined }
    end = 0
  }

  /**
   * Under the lock: points `fd` at the journal as it is now (reopening after another process's
   * compact) and returns its size; `undefined`, with no fd, when there is no journal and `create`
   * is false.
   */
  const attach = (create: boolean): { fd: number; size: number } | undefined => {
    let st: fs.Stats | undefined
    try {
      st = fs.statSync(file)
    } catch (e) {
      if (errCode(e) !== 'ENOENT') throw e
    }
    if (fd !== undefined && (st === undefined || !sameFile(fs.fstatSync(fd), st))) closeFd()
    if (st === undefined && !create) return undefined
    if (fd === undefined) {
      fd = fs.openSync(file, 'a+', 0o600)
      st = fs.fstatSync(fd)
    }
    return { fd, size: st!.size }
  }

  /** Cuts a damaged tail (left by a writer that died mid-append, holding the lock) and fsyncs the cut. */
  const cut = (f: number, at: number): void => {
    fs.ftruncateSync(f, at)
    fs.fsyncSync(f)
  }

  /** Under the lock: the whole journal, replayed, with any torn tail cut. */
  const readAll = (): StoredSpace => {
    const a = attach(false)
    if (a === undefined) return { meta: undefined, updates: [], outbox: [] }
    const r = replay(readAt(a.fd, 0, a.size))
    if (r.torn) cut(a.fd, r.end)
    end = r.end
    return r.space
  }

  return {
    load (): Promise<StoredSpace> {
      return serial(() => {
        const space = readAll()
        seen = new Set(space.updates.map(updateId))
        return space
      })
    },

    write (b: WriteBatch): Promise<void> {
      const bytes = encodeBatch(b)
      // Nothing to store: still resolve in call order, without touching the lock.
      if (bytes.length === 0) return queue.then(() => {})
      const ids = (b.updates ?? []).map(updateId)
      return serial(() => {
        const { fd: f, size } = attach(true)!
        // Records others appended since we last looked: check them, so we never append behind a torn tail.
        if (size !== end) {
          const from = size > end ? end : 0
          const r = scan(readAt(f, from, size))
          if (r.torn) cut(f, from + r.end)
          end = r.torn ? from + r.end : size
        }
        try {
          writeAll(f, bytes)
          fs.fsyncSync(f)
        } catch (e) {
          // Leave no partial batch behind for the next writer to append after.
          try { cut(f, end) } catch {}
          throw e
        }
        end += bytes.length
        for (const id of ids) seen.add(id)
      })
    },

    compact (state: Uint8Array, meta?: Uint8Array): Promise<void> {
      return serial(() => {
        const current = readAll()
        const parts = [record(KIND.state, state)]
        for (const u of current.updates) if (!seen.has(updateId(u))) parts.push(record(KIND.update, u))
        for (const e of current.outbox) parts.push(record(KIND.outboxAdd, e))
        const m = meta ?? current.meta
        if (m !== undefined) parts.push(record(KIND.meta, m))
        const bytes = Buffer.concat(parts)
        const tmp = `${file}.tmp`
        const t = fs.openSync(tmp, fs.constants.O_RDWR | fs.constants.O_CREAT | fs.constants.O_TRUNC | fs.constants.O_APPEND, 0o600)
        try {
          writeAll(t, bytes)
          fs.fsyncSync(t)
          fs.renameSync(tmp, file)
        } catch (e) {
          fs.closeSync(t)
          throw e
        }
        // The new file's fd is the one it was written through: no reopen.
        closeFd()
        fd = t
        end = bytes.length
        seen = new Set([updateId(state)])
        const dir = fs.openSync(path.dirname(file), 'r')
        try { fs.fsyncSync(dir) } finally { fs.closeSync(dir) }
      })
    },

    close (): Promise<void> {
      const p = queue.then(() => closeFd())
      queue = p.catch(() => {})
      return p
    }
  }
}
