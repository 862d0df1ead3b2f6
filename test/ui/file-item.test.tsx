import { For, createSignal } from 'solid-js'
import { render } from 'solid-js/web'
import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import * as model from '../../client/core/model.js'
import { deriveKeys, newSpaceSecrets } from '../../shared/keys.js'
import { getSodium } from '../../shared/sodium.js'
import { useSpaceView } from '../../client/ui/bridge.js'
import { cardStatus, downloadFailure, rowText } from '../../client/ui/file-words.js'
import { SpaceFilesContext, type SpaceFiles, type UploadRow } from '../../client/ui/uploads.js'
import { FileItem } from '../../client/ui/views/FileItem.js'

/**
 * A file card before its upload (issue 9.5): on other devices it names who has not uploaded it
 * yet and cannot be downloaded; on the adder's device it says where the bytes are, opens, and
 * clears the `pending` mark once the queue says the relay has it.
 */
const tick = (): Promise<void> => new Promise(resolve => setTimeout(resolve, 0))
const BLOB = 'ab'.repeat(16)

function row (phase: UploadRow['phase'], error?: UploadRow['error']): UploadRow {
  return { blob: BLOB, item: 'f1', name: 'x.bin', bytes: 100, addedAt: 1, phase, done: 40, attempts: error === undefined ? 0 : 1, nextAt: 0, ...(error === undefined ? {} : { error }) }
}

describe('file card of a file not uploaded yet', () => {
  it('others read who has not uploaded it; the adder reads where it is; uploaded clears the mark', async () => {
    const sodium = await getSodium()
    const keys = deriveKeys(sodium, newSpaceSecrets(sodium))
    const doc = new Y.Doc()
    model.addFile(doc, { id: 'f1', name: 'x.bin', size: 60, mime: 'application/octet-stream', blob: BLOB, key: 'k', chunk: 65536, from: 'Alice', pending: true })
    const [rows, setRows] = createSignal<readonly UploadRow[]>([])
    const files: SpaceFiles = {
      rows, add: async () => [], retry () {}, dismiss () {}, reachable () {}, local: async () => undefined, close: async () => {}
    }
    const host = document.createElement('div')
    document.body.append(host)
    const dispose = render(() => {
      const view = useSpaceView(doc)
      return (
        <SpaceFilesContext.Provider value={files}>
          <For each={view.items}>{item => <FileItem doc={doc} item={item} sodium={sodium} origin="http://127.0.0.1:1" keys={keys} />}</For>
        </SpaceFilesContext.Provider>
      )
    }, host)
    const status = (): string => host.querySelector('[data-testid=file-status]')?.textContent ?? ''
    const button = (): HTMLButtonElement => host.querySelector('[data-testid=download]')!
    expect(status()).toBe("Uploading from Alice's device · not uploaded yet by Alice")
    expect(button().disabled).toBe(true)

    setRows([row('waiting')])
    expect(status()).toBe('On this device · waiting for the relay')
    expect(button().disabled).toBe(false)
    setRows([row('uploading')])
    expect(status()).toBe('On this device · uploading, 40 %')

    setRows([row('uploaded')])
    await tick()
    expect(model.toJSON(doc).items[0]).not.toHaveProperty('pending')
    expect(status()).toBe('On the relay, and kept on this device')
    setRows([])
    await tick()
    expect(status()).toBe('')
    expect(button().disabled).toBe(false)
    dispose()
    host.remove()
  })

  it('words: queue rows and download failures say what happened and what happens next', () => {
    expect(rowText(row('waiting'))).toMatch(/kept on this device, waiting for the relay; it uploads by itself/)
    expect(rowText(row('waiting', { code: 'file/network', message: 'x' }))).toMatch(/relay cannot be reached .* uploads by itself when the relay is back/)
    expect(rowText(row('held', { code: 'file/quota', message: 'x' }))).toMatch(/file space for this space is full\. It stays on this device/)
    expect(rowText(row('failed', { code: 'file/too-large', message: 'the file is larger than this relay accepts (413 blob/too-large)' }))).toMatch(/larger than this relay accepts .* stays on this device; press Retry/)
    expect(cardStatus(true, '', undefined)).toBe('Uploading from their device · not uploaded yet by the member who added it')
    expect(cardStatus(false, 'Alice', undefined)).toBe('')
    expect(downloadFailure('file/network', 'x', false, '', false)).toMatch(/^This device is offline/)
    expect(downloadFailure('file/network', 'x', false, '', true)).toMatch(/^The relay cannot be reached/)
    expect(downloadFailure('file/not-found', 'x', true, 'Bob', true)).toBe('Not uploaded yet by Bob: it is still on their device.')
    expect(downloadFailure('file/not-found', 'x', false, 'Bob', true)).toBe('The relay does not have this file.')
    for (const code of ['file/network', 'file/not-found', 'file/bad-chunk']) expect(downloadFailure(code, 'a chunk was altered', false, '', true)).not.toMatch(/Failed to fetch/)
  })
})
