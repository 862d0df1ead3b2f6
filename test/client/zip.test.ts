import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { crc32, zipStore } from '../../client/core/zip.js'
import { tempDir } from '../support/relay.js'

describe('zip export writer', () => {
  it('crc32 matches the standard check value', () => {
    expect(crc32(new TextEncoder().encode('123456789'))).toBe(0xcbf43926)
  })

  it('writes an archive that a standard ZIP reader lists and extracts byte-identically', () => {
    const bin = Uint8Array.from({ length: 70_000 }, (_, i) => (i * 7919) & 0xff)
    const entries = [
      { name: 'space.json', data: new TextEncoder().encode('{"title":"Trip"}') },
      { name: 'files/ab12-photo é.jpg', data: bin },
      { name: 'files/empty.txt', data: new Uint8Array(0) }
    ]
    const dir = tempDir('cove-zip-')
    const file = path.join(dir, 'export.zip')
    fs.writeFileSync(file, Buffer.concat(zipStore(entries)))
    // Python's zipfile checks signatures, offsets, sizes and every CRC (testzip) on its own.
    const out = execFileSync('python3', ['-c', `
import sys, zipfile, json
z = zipfile.ZipFile(sys.argv[1])
assert z.testzip() is None
print(json.dumps([[i.filename, i.file_size, z.read(i.filename).hex()[:16]] for i in z.infolist()]))
`, file], { encoding: 'utf8' })
    const listed = JSON.parse(out) as Array<[string, number, string]>
    expect(listed.map(x => [x[0], x[1]])).toEqual(entries.map(e => [e.name, e.data.length]))
    expect(listed[1]![2]).toBe(Buffer.from(bin.subarray(0, 8)).toString('hex'))
    fs.rmSync(dir, { recursive: true, force: true })
  })
})
