/**
 * A minimal ZIP writer (stored entries, no compression, no ZIP64), enough to export a space with
 * its files as one download that every OS opens. PKWARE APPNOTE 6.3.x §4.3: local file headers,
 * central directory, end of central directory record. Names are UTF-8 (general purpose bit 11).
 */
export interface ZipEntry { readonly name: string; readonly data: Uint8Array }

const CRC_TABLE = (() => {
  const t = new Uint32Array(256)
  for (let n = 0; n < 256; n++) {
    let c = n
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
    t[n] = c >>> 0
  }
  return t
})()

/** CRC-32 (IEEE 802.3), as ZIP and our journal records use it. */
export function crc32 (b: Uint8Array): number {
  let c = 0xffffffff
  for (let i = 0; i < b.length; i++) c = CRC_TABLE[(c ^ b[i]!) & 0xff]! ^ (c >>> 8)
  return (c ^ 0xffffffff) >>> 0
}

const DOS_DATE_1980_01_01 = 0x21
const UTF8_NAMES = 0x0800

/** The archive as parts (a Blob can take them without one more copy); throws past ZIP's 4 GiB limits. */
export function zipStore (entries: readonly ZipEntry[]): Uint8Array[] {
  const enc = new TextEncoder()
  const parts: Uint8Array[] = []
  const central: Uint8Array[] = []
  let offset = 0
  for (const e of entries) {
    const name = enc.encode(e.name)
    const crc = crc32(e.data)
    if (e.data.length >= 0xffffffff || offset >= 0xffffffff || name.length > 0xffff) throw new Error('export is larger than a ZIP file without ZIP64 can hold')
    const local = new Uint8Array(30 + name.length)
    const l = new DataView(local.buffer)
    l.setUint32(0, 0x04034b50, true); l.setUint16(4, 20, true); l.setUint16(6, UTF8_NAMES, true); l.setUint16(8, 0, true)
    l.setUint16(10, 0, true); l.setUint16(12, DOS_DATE_1980_01_01, true); l.setUint32(14, crc, true)
    l.setUint32(18, e.data.length, true); l.setUint32(22, e.data.length, true); l.setUint16(26, name.length, true); l.setUint16(28, 0, true)
    local.set(name, 30)
    const cd = new Uint8Array(46 + name.length)
    const c = new DataView(cd.buffer)
    c.setUint32(0, 0x02014b50, true); c.setUint16(4, 20, true); c.setUint16(6, 20, true); c.setUint16(8, UTF8_NAMES, true)
    c.setUint16(10, 0, true); c.setUint16(12, 0, true); c.setUint16(14, DOS_DATE_1980_01_01, true); c.setUint32(16, crc, true)
    c.setUint32(20, e.data.length, true); c.setUint32(24, e.data.length, true); c.setUint16(28, name.length, true)
    c.setUint32(42, offset, true)
    cd.set(name, 46)
    parts.push(local, e.data)
    central.push(cd)
    offset += local.length + e.data.length
  }
  const cdSize = central.reduce((n, p) => n + p.length, 0)
  if (offset + cdSize >= 0xffffffff || entries.length > 0xffff) throw new Error('export is larger than a ZIP file without ZIP64 can hold')
  const end = new Uint8Array(22)
  const d = new DataView(end.buffer)
  d.setUint32(0, 0x06054b50, true); d.setUint16(8, entries.length, true); d.setUint16(10, entries.length, true)
  d.setUint32(12, cdSize, true); d.setUint32(16, offset, true)
  return [...parts, ...central, end]
}
