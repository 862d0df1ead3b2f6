import fs from 'node:fs'
import path from 'node:path'
import { toHex } from '../../shared/bytes.js'
import { err, ok, type Result } from '../../shared/errors.js'
import { parseLink, type Invite } from '../../shared/keys.js'
import type { Sodium } from '../../shared/sodium.js'

/**
 * The spaces this CLI home has opened, by id and by local alias (issue 11, part 4).
 *
 * A link on the command line lands in `ps` and in shell history, and every command used to need
 * the full edit link. Once a space has been opened here its link is kept in
 * `$COVE_HOME/spaces.json` (mode 0600, beside the journals that already hold the same secret),
 * so later commands name the space by its id or an alias chosen with `--as`. A link can also come
 * from stdin (`-`) or from an environment variable (`env:NAME`), so it never has to be typed.
 */
export interface KnownSpace {
  /** Space id, lower-case hex. */
  readonly id: string
  readonly alias?: string
  /** The strongest link this home has held for the space (edit beats view). */
  readonly link: string
}

export type RefErrorCode = 'space/unknown' | 'space/bad-alias' | 'space/no-link' | 'link/malformed' | 'link/unknown-kind' | 'link/bad-relay' | 'link/bad-checkpoint'

interface File { v: 1; spaces: KnownSpace[] }

const fileOf = (home: string): string => path.join(home, 'spaces.json')

/** Aliases are short local names: no ':' (kept for `env:`), no '/' or '#' (a link), not '-'. */
export function validAlias (a: string): boolean {
  return /^[A-Za-z0-9_.][A-Za-z0-9_.@+-]{0,63}$/.test(a) && !/^[0-9a-f]{32}$/.test(a)
}

export function list (home: string): KnownSpace[] {
  try {
    const o = JSON.parse(fs.readFileSync(fileOf(home), 'utf8')) as Partial<File>
    if (o.v !== 1 || !Array.isArray(o.spaces)) return []
    return o.spaces.filter(s => typeof s?.id === 'string' && typeof s.link === 'string')
  } catch {
    return []
  }
}

function save (home: string, spaces: KnownSpace[]): void {
  fs.mkdirSync(home, { recursive: true, mode: 0o700 })
  const tmp = `${fileOf(home)}.${process.pid}.tmp`
  fs.writeFileSync(tmp, JSON.stringify({ v: 1, spaces } satisfies File, null, 2), { mode: 0o600 })
  fs.renameSync(tmp, fileOf(home))
}

/**
 * Records that `link` opened space `inv` here, with `alias` if given (an alias moves from any
 * other space to this one). A view link never replaces an edit link already kept; a link of a
 * newer epoch replaces an older one (rotation, issue 11).
 */
export function remember (home: string, inv: Invite, link: string, alias?: string): Result<KnownSpace, 'space/bad-alias'> {
  if (alias !== undefined && !validAlias(alias)) return err('space/bad-alias', `"${alias}" cannot be an alias: use letters, digits and . _ - (not a 32-character hex id)`)
  const id = toHex(inv.secrets.spaceId)
  const spaces = list(home).map(s => alias !== undefined && s.alias === alias && s.id !== id ? { id: s.id, link: s.link } : s)
  const i = spaces.findIndex(s => s.id === id)
  const old = spaces[i]
  const keepOld = old !== undefined && isEdit(old.link) && inv.mode === 'view' && epochOf(old.link) >= inv.secrets.epoch
  const entry: KnownSpace = { id, link: keepOld ? old.link : link, ...(alias ?? old?.alias) !== undefined ? { alias: alias ?? old?.alias } : {} }
  if (i < 0) spaces.push(entry)
  else spaces[i] = entry
  save(home, spaces)
  return ok(entry)
}

const isEdit = (link: string): boolean => link.includes('#edit1.')
function epochOf (link: string): number {
  const m = /#(?:edit1|view1)\.([A-Za-z0-9_-]+)/.exec(link)
  if (m === null) return -1
  const raw = Buffer.from(m[1]!, 'base64url')
  return raw.length >= 20 ? raw.readUInt32BE(16) : -1
}

/**
 * The link a space argument stands for: `-` (the first line of stdin), `env:NAME` (an environment
 * variable), a link itself, or the id / alias of a space this home has opened.
 */
export async function resolve (sodium: Sodium, home: string, ref: string, stdin: () => Promise<string>): Promise<Result<{ invite: Invite; link: string; known?: KnownSpace; fromArgv: boolean }, RefErrorCode>> {
  let link: string
  let known: KnownSpace | undefined
  let fromArgv = false
  if (ref === '-') {
    link = (await stdin()).split('\n')[0]?.trim() ?? ''
    if (link === '') return err('space/no-link', 'expected a Cove link on stdin')
  } else if (ref.startsWith('env:')) {
    const name = ref.slice(4) || 'COVE_LINK'
    link = (process.env[name] ?? '').trim()
    if (link === '') return err('space/no-link', `the environment variable ${name} holds no link`)
  } else if (ref.includes('#') || ref.includes('://') || !(validAlias(ref) || /^[0-9a-fA-F]{6,32}$/.test(ref))) {
    // Not a name this home could have given: taken as a link (and refused as one if it is not).
    link = ref
    fromArgv = true
  } else {
    const spaces = list(home)
    const lower = ref.toLowerCase()
    const hits = spaces.filter(s => s.alias === ref || s.id === lower)
    const byPrefix = hits.length === 0 && /^[0-9a-f]{6,}$/.test(lower) ? spaces.filter(s => s.id.startsWith(lower)) : hits
    if (byPrefix.length !== 1) {
      return err('space/unknown', byPrefix.length > 1
        ? `"${ref}" names more than one space here; give more of its id`
        : `no space known here as "${ref}"; open it once with its link: cove open - --as ${validAlias(ref) ? ref : 'NAME'} (the link on stdin)`)
    }
    known = byPrefix[0]!
    link = known.link
  }
  const r = parseLink(sodium, link)
  if (!r.ok) return r
  return ok({ invite: r.value, link, ...known === undefined ? {} : { known }, fromArgv })
}
