import { createSignal } from 'solid-js'
import { PALETTE_SIZE } from '../core/presence.js'

/**
 * The name and colour this person shows to others, kept per device (localStorage) and sent only
 * sealed: in presence envelopes, and (the name) in the document with the checklist entries they
 * add and what they delete, so others read "Bob's 2 entries went to Trash" (issue 9).
 */
export interface Profile { readonly name: string; readonly color: number }

const KEY = 'cove-profile'
const NAMES = ['Otter', 'Heron', 'Lynx', 'Marten', 'Puffin', 'Wren', 'Ibex', 'Seal']

function load (): Profile {
  try {
    const v = JSON.parse(localStorage.getItem(KEY) ?? 'null') as Partial<Profile> | null
    if (v !== null && typeof v.name === 'string' && Number.isInteger(v.color) && (v.color as number) >= 0 && (v.color as number) < PALETTE_SIZE) return { name: v.name.slice(0, 64), color: v.color as number }
  } catch {}
  const n = globalThis.crypto.getRandomValues(new Uint8Array(2))
  const p = { name: NAMES[n[0]! % NAMES.length]!, color: n[1]! % PALETTE_SIZE }
  save(p)
  return p
}

function save (p: Profile): void {
  try { localStorage.setItem(KEY, JSON.stringify(p)) } catch {}
}

const [profile, setProfileSignal] = createSignal<Profile>(load())

export { profile }

export function setProfile (p: Profile): void {
  const clean = { name: p.name.trim().slice(0, 64) || 'Someone', color: Math.max(0, Math.min(PALETTE_SIZE - 1, Math.floor(p.color))) }
  save(clean)
  setProfileSignal(clean)
}
