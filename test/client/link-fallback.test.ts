import { describe, expect, it } from 'vitest'
import { RelayLink, type LinkMember } from '../../client/core/link.js'
import type { ConnectionHandlers, Transport } from '../../client/core/transport.js'

/**
 * Several relay addresses (issue 12): when the relay a link is on is gone (a failed connect or a
 * dropped connection), the next address is tried, in turn, and the members see an ordinary
 * reconnect (they resume from their own stream heads).
 */
function fakeTransport (up: Set<string>): Transport & { tried: string[]; open: Map<string, ConnectionHandlers> } {
  const t = {
    tried: [] as string[],
    open: new Map<string, ConnectionHandlers>(),
    connect (url: string, h: ConnectionHandlers) {
      t.tried.push(url)
      setTimeout(() => {
        if (up.has(url)) { t.open.set(url, h); h.onOpen() } else h.onClose('refused')
      }, 0)
      return { send () {}, close () { if (t.open.get(url) === h) { t.open.delete(url); h.onClose('closed') } } }
    }
  }
  return t
}

const member = (events: string[]): LinkMember => ({
  spaceKey: 'aa',
  onOpen: () => events.push('open'),
  onFrame: () => {},
  onClose: () => events.push('close'),
  onProtocolError: () => {}
})

const until = async (cond: () => boolean): Promise<void> => {
  for (let i = 0; i < 400 && !cond(); i++) await new Promise(resolve => setTimeout(resolve, 5))
  expect(cond()).toBe(true)
}

describe('a relay link with fallback addresses', () => {
  it('moves to the next address when its relay is gone, and comes back round', async () => {
    const up = new Set(['ws://b'])
    const t = fakeTransport(up)
    const link = new RelayLink('ws://a', t, { fallbacks: ['ws://b', 'ws://c', 'ws://a'], backoffBaseMs: 1, backoffMaxMs: 2 })
    const events: string[] = []
    link.add(member(events))
    await until(() => link.connected)
    expect(t.tried).toEqual(['ws://a', 'ws://b'])
    expect(link.current).toBe('ws://b')
    // b dies; c is down too; a is back: the link goes b → c → a.
    up.clear()
    up.add('ws://a')
    t.open.get('ws://b')!.onClose('relay killed')
    await until(() => link.connected)
    expect(t.tried).toEqual(['ws://a', 'ws://b', 'ws://c', 'ws://a'])
    // Members hear every close (a failed attempt too) and an open on each relay reached.
    expect(events.filter(e => e === 'open')).toHaveLength(2)
    expect(events[events.length - 1]).toBe('open')
    link.close()
  })

  it('without fallbacks it reconnects to its one address as before', async () => {
    const up = new Set<string>()
    const t = fakeTransport(up)
    const link = new RelayLink('ws://only', t, { backoffBaseMs: 1, backoffMaxMs: 2 })
    link.add(member([]))
    await until(() => t.tried.length >= 3)
    up.add('ws://only')
    await until(() => link.connected)
    expect(new Set(t.tried)).toEqual(new Set(['ws://only']))
    link.close()
  })
})
