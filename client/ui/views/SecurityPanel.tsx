import { For, Show } from 'solid-js'
import type { Alert } from '../../core/space.js'
import { explain } from '../alerts.js'

/**
 * What protects this space, in words: the codes two people can compare, what the relay can and
 * cannot see (PROTOCOL.md "What the relay can see"), and every alert the sync core raised.
 */
export interface SecurityPanelProps {
  readonly spaceCode: string
  readonly stateCode: string
  readonly synced: boolean
  readonly readOnly: boolean
  readonly alerts: readonly Alert[]
}

export function SecurityPanel (props: SecurityPanelProps) {
  return (
    <section class="panel security" aria-label="Security" data-testid="security-panel">
      <h2>Security</h2>
      <dl class="codes">
        <dt>Space code</dt>
        <dd><code data-testid="space-code">{props.spaceCode}</code></dd>
        <dd class="muted">Read it to the people you share with: if theirs differs, one of you has a tampered link.</dd>
        <dt>State code</dt>
        <dd><code data-testid="state-code">{props.stateCode}</code></dd>
        <dd class="muted">
          {props.synced
            ? 'Everything here is on the relay. Anyone else who is also up to date sees this same code; a different code means the relay is showing you different histories.'
            : 'Some changes are still travelling, so codes may differ for a moment.'}
        </dd>
      </dl>
      <Show when={props.readOnly}><p><strong>View-only:</strong> this link can read the space but cannot make a change anyone accepts.</p></Show>
      <h3>What the relay can see</h3>
      <p>
        Everything in this space is encrypted on your device before it leaves. The relay stores and forwards
        sealed envelopes and never holds a key. It can see: the space's id and its public access and write keys;
        the public keys of the devices that write or say they are here (one per device per space); how many changes there are, their
        padded sizes and when they happen; encrypted files' sizes; and which IP addresses connect and when.
      </p>
      <p>
        It cannot see titles, notes, checklist entries, links, file names or contents, your name, your colour or
        your cursor.
      </p>
      <p>What Cove checks, and what it cannot:</p>
      <ul class="checks" data-testid="checks">
        <li>Checked: every change is signed by a member's device and sealed with the space key; a change altered, replayed or reordered by the relay is refused and shown below.</li>
        <li>Checked: members' devices sign small receipts of what they hold. If the relay keeps someone's changes from you, serves two versions of the history, or says it stored your change when it did not, the receipts show it and Cove says so below (your changes stay on this device until another member has them).</li>
        <li>Checked: a member's snapshot is compared with the changes it claims to contain before it is trusted.</li>
        <li>Not checked: a relay that hides every other member and their receipts from you looks like an empty room. Compare the space code above with someone you trust to be sure you see the same space.</li>
      </ul>
      <h3>Alerts</h3>
      <Show when={props.alerts.length > 0} fallback={<p class="muted" data-testid="no-alerts">No alerts: every change received passed its checks.</p>}>
        <ul class="alerts" data-testid="alerts">
          <For each={[...props.alerts].reverse()}>
            {a => (
              <li>
                <span class="when">{new Date(a.at).toLocaleString()}</span>
                <span>{explain(a)}</span>
                <code class="muted">{a.code}</code>
              </li>
            )}
          </For>
        </ul>
      </Show>
    </section>
  )
}
