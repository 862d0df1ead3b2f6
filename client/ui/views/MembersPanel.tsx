import { For, Show } from 'solid-js'
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
}

export function MembersPanel (props: MembersPanelProps) {
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
            </li>
          )}
        </For>
      </ul>
    </section>
  )
}
