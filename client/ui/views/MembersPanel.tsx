import { createSignal, For, Show } from 'solid-js'
import type { Member } from '../../core/members.js'
import { formatAge } from '../format.js'
import { deviceTag, displayName } from '../peer-labels.js'

/**
 * Who is in this space (issue 11): every device that opened it, viewers included, with the name
 * and colour its person chose, its role as its certificate proves it (never as it claims), its
 * device tag (names are not unique, keys are) and when it was last seen. This device is marked.
 */
export interface MembersPanelProps {
  readonly members: readonly Member[]
  /** An editor may remove a device (issue 11); absent for a viewer. */
  readonly onRemove?: (device: string) => Promise<string>
}

export function MembersPanel (props: MembersPanelProps) {
  const [busy, setBusy] = createSignal(false)
  const [note, setNote] = createSignal('')
  const remove = async (m: Member): Promise<void> => {
    if (props.onRemove === undefined || !confirm(`Remove ${displayName(m.name)} (${deviceTag(m.device)})? The space gets a new key that this device never receives; it keeps what it already has. Everyone else stays, without a new link.`)) return
    setBusy(true)
    setNote('Moving the space to a new key…')
    const r = await props.onRemove(m.device).catch(() => 'offline')
    setNote(r === 'stored' ? 'Done: the space has a new key. Share the new links from Share.' : r === 'conflict' ? 'Another editor changed the key at the same moment; check the list and try again.' : 'The relay could not be reached; nothing changed.')
    setBusy(false)
  }
  return (
    <section class="panel members" aria-label="Members" data-testid="members-panel">
      <h2>Members</h2>
      <p class="muted">
        Every device that opened this space, by the name its person chose. "Edit" and "View" are
        what the device's key proves, not what it says. A name can be copied; the device code cannot.
      </p>
      <ul class="member-list">
        <For each={props.members}>
          {m => (
            <li class="member" data-testid="member" data-device={m.device} data-role={m.role} data-self={m.self ? 'true' : 'false'}>
              <span class={`member-dot cove-c${m.colour}`} aria-hidden="true" />
              <span class="member-name" data-testid="member-name">{displayName(m.name)}</span>
              <Show when={m.self}><span class="badge" data-testid="member-self">this device</span></Show>
              <span class="member-role" data-testid="member-role">{m.role === 'edit' ? 'Edit' : 'View'}</span>
              <code class="member-device" title={m.device}>{deviceTag(m.device)}</code>
              <span class="member-seen muted">{m.self ? 'here now' : m.lastSeen === undefined ? 'not seen yet' : `seen ${formatAge(m.lastSeen)}`}</span>
              <Show when={props.onRemove !== undefined && !m.self}>
                <button type="button" class="small danger" data-testid="member-remove" onClick={() => { void remove(m) }} disabled={busy()}>Remove</button>
              </Show>
            </li>
          )}
        </For>
      </ul>
      <Show when={note() !== ''}><p class="muted" role="status" data-testid="members-note">{note()}</p></Show>
      <Show when={props.onRemove !== undefined}>
        <p class="muted">Removing a device moves the space to a new key: the others follow without a new link, the old links open nothing new, and the removed device keeps only what it already had.</p>
      </Show>
    </section>
  )
}
