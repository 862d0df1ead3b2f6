/**
 * Thumbnails are made on the device (the relay never sees the image) and stored inside the
 * encrypted document, so they show offline and without a download. Kept small (≤ 320 px JPEG)
 * because every member syncs them.
 */
const MAX_SIDE = 320

export async function makeThumbnail (file: Blob): Promise<Uint8Array | undefined> {
  if (!file.type.startsWith('image/') || typeof createImageBitmap !== 'function') return undefined
  try {
    const bmp = await createImageBitmap(file)
    const scale = Math.min(1, MAX_SIDE / Math.max(bmp.width, bmp.height))
    const w = Math.max(1, Math.round(bmp.width * scale))
    const h = Math.max(1, Math.round(bmp.height * scale))
    const canvas = document.createElement('canvas')
    canvas.width = w
    canvas.height = h
    const ctx = canvas.getContext('2d')
    if (ctx === null) return undefined
    ctx.drawImage(bmp, 0, 0, w, h)
    bmp.close()
    const blob = await new Promise<Blob | null>(resolve => canvas.toBlob(resolve, 'image/jpeg', 0.72))
    return blob === null ? undefined : new Uint8Array(await blob.arrayBuffer())
  } catch {
    // Not decodable as an image here: the file is still uploaded, just without a preview.
    return undefined
  }
}
