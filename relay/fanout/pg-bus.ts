import { randomBytes } from 'node:crypto'
import pg from 'pg'
import { fromHex, toHex } from '../../shared/bytes.js'
import type { BusHandlers, BusMessage, FanoutBus } from './port.js'

/**
 * The fan-out port on PostgreSQL `LISTEN/NOTIFY` (issue 12). One connection listens; publishing
 * goes through a small pool, coalesced per event-loop turn (one `entries` message per space with
 * the highest cursor, all of a turn's messages in one round trip).
 *
 * NOTIFY is not a log: a notification sent while the listening connection is down is gone. So when
 * that connection comes back the relay re-reads every live space (`resync`), and the core also
 * polls live spaces' heads as a fallback. A payload over NOTIFY's limit (8000 bytes; a presence
 * envelope near 6 KB after base64) is dropped, as a slow network would drop presence.
 */
export interface PgBusOptions {
  readonly connectionString: string
  /** The NOTIFY channel; relays that should see each other use the same one. */
  readonly channel?: string
  readonly log?: (line: string) => void
  /** Tests: incoming messages this returns true for are dropped (a lost notification, on purpose). */
  readonly dropIncoming?: (m: BusMessage) => boolean
}

const MAX_PAYLOAD = 7999
const TYPES = { entries: 'e', presence: 'p', peerLeft: 'l', snapshot: 's', receipts: 'r', rotated: 'k' } as const
const BY_CODE = new Map<string, BusMessage['type']>((Object.keys(TYPES) as Array<keyof typeof TYPES>).map(k => [TYPES[k], k]))

function encode (origin: string, m: BusMessage): string {
  const arg = m.type === 'entries' ? String(m.cursor)
    : m.type === 'presence' ? Buffer.from(m.envelope).toString('base64')
      : m.type === 'peerLeft' ? toHex(m.author) : ''
  return `${origin}|${TYPES[m.type]}|${toHex(m.spaceId)}|${arg}`
}

/** Undefined for payloads that are not ours or do not parse (any client of the database can NOTIFY). */
function decode (payload: string): { origin: string; m: BusMessage } | undefined {
  const [origin, code, space, arg] = payload.split('|')
  const type = code === undefined ? undefined : BY_CODE.get(code)
  if (origin === undefined || type === undefined || space === undefined || arg === undefined || !/^[0-9a-f]{2,64}$/.test(space)) return undefined
  const spaceId = fromHex(space)
  if (spaceId === undefined) return undefined
  switch (type) {
    case 'entries': {
      const cursor = Number(arg)
      return Number.isSafeInteger(cursor) && cursor > 0 ? { origin, m: { type, spaceId, cursor } } : undefined
    }
    case 'presence': return { origin, m: { type, spaceId, envelope: new Uint8Array(Buffer.from(arg, 'base64')) } }
    case 'peerLeft': {
      const author = /^[0-9a-f]{64}$/.test(arg) ? fromHex(arg) : undefined
      return author === undefined ? undefined : { origin, m: { type, spaceId, author } }
    }
    default: return { origin, m: { type, spaceId } }
  }
}

export async function createPgBus (opts: PgBusOptions): Promise<FanoutBus> {
  const channel = opts.channel ?? 'cove'
  if (!/^[a-z_][a-z0-9_]*$/.test(channel)) throw new Error(`invalid channel name ${channel}`)
  const log = opts.log ?? ((): void => {})
  const origin = randomBytes(6).toString('hex')
  const pool = new pg.Pool({ connectionString: opts.connectionString, max: 2, connectionTimeoutMillis: 10_000 })
  pool.on('error', e => log(`bus pool: ${e.message}`))
  let handlers: BusHandlers | undefined
  let closed = false
  let listener: pg.Client | undefined
  let retryMs = 100

  const onNotification = (n: pg.Notification): void => {
    if (n.channel !== channel || n.payload === undefined) return
    const d = decode(n.payload)
    if (d === undefined || d.origin === origin) return
    if (opts.dropIncoming?.(d.m) === true) return
    handlers?.message(d.m)
  }

  /** Connects the listening connection; after the first time, everything missed is re-read. */
  async function listen (first: boolean): Promise<void> {
    const c = new pg.Client({ connectionString: opts.connectionString, connectionTimeoutMillis: 10_000 })
    let gone = false
    const lost = (why: string): void => {
      if (gone) return
      gone = true
      listener = undefined
      c.removeAllListeners('notification')
      c.end().catch(() => {})
      if (closed) return
      log(`bus: listening connection lost (${why}); reconnecting`)
      const t = setTimeout(() => { void listen(false) }, retryMs)
      t.unref()
      retryMs = Math.min(retryMs * 2, 2000)
    }
    c.on('error', e => lost(e.message))
    c.on('end', () => lost('ended'))
    c.on('notification', onNotification)
    try {
      await c.connect()
      await c.query(`LISTEN ${channel}`)
    } catch (e) {
      if (first) { gone = true; await c.end().catch(() => {}); throw e }
      lost(e instanceof Error ? e.message : String(e))
      return
    }
    if (closed) { await c.end().catch(() => {}); return }
    listener = c
    retryMs = 100
    if (!first) {
      log('bus: listening again; re-reading every live space')
      handlers?.resync()
    }
  }
  await listen(true)

  let outbox: BusMessage[] = []
  let scheduled = false
  const flush = (): void => {
    scheduled = false
    const batch = outbox
    outbox = []
    const heads = new Map<string, BusMessage & { type: 'entries' }>()
    const payloads: string[] = []
    for (const m of batch) {
      if (m.type === 'entries') {
        const k = toHex(m.spaceId)
        const had = heads.get(k)
        if (had === undefined || had.cursor < m.cursor) heads.set(k, m)
        continue
      }
      const p = encode(origin, m)
      if (p.length <= MAX_PAYLOAD) payloads.push(p)
    }
    for (const m of heads.values()) payloads.push(encode(origin, m))
    if (payloads.length === 0 || closed) return
    pool.query('SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p', [channel, payloads])
      .catch(e => log(`bus: publish failed (readers on other relays wait for their poll): ${e instanceof Error ? e.message : String(e)}`))
  }

  return {
    publish (m) {
      if (closed) return
      outbox.push(m)
      if (!scheduled) {
        scheduled = true
        setImmediate(flush)
      }
    },
    subscribe (h) { handlers = h },
    async close () {
      if (closed) return
      flush()
      closed = true
      const l = listener
      listener = undefined
      if (l !== undefined) { l.removeAllListeners(); l.on('error', () => {}); await l.end().catch(() => {}) }
      await pool.end().catch(() => {})
    }
  }
}
