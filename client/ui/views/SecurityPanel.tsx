import { For, Show } from 'solid-js'
import type { Freshness } from '../../core/freshness.js'
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
  /** Whether this device reached what its invite link vouched for (client/core/freshness.ts). */
  readonly freshness?: Freshness
}

/** The invite link's checkpoint, in words: a line of the checked / not checked list, or none. */
function freshnessLine (f: Freshness | undefined): string | undefined {
  switch (f?.state) {
    case 'unchecked': return 'Not checked: the link this device joined with was made by an older Cove and carries no checkpoint, so this device cannot tell whether the relay gave it the space as it was when the link was made. Ask a member for a new link, or compare the space code above. (sync/freshness-unchecked)'
    case 'checking': return 'Checking: this device has not yet reached the state the invite link vouches for.'
    case 'reached': return 'Checked: this device reached the state of the space the invite link vouched for, so the relay did not give it an older one.'
    case 'behind': return `Not current: ${f.behind} change(s) the invite link vouches for have not arrived (see the alert below).`
    default: return undefined
  }
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
        <Show when={freshnessLine(props.freshness)}>{line => <li data-testid="freshness">{line()}</li>}</Show>
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
