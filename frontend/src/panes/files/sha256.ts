/**
 * SHA-256 that takes its input a piece at a time (Web Crypto only hashes a whole
 * buffer), so a large upload is hashed chunk by chunk as it is sent, and the resource's
 * checksum can be compared without holding the file in memory. FIPS 180-4.
 */

const K = new Uint32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98,
  0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
  0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8,
  0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
  0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819,
  0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
  0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
  0xc67178f2,
])

export class Sha256 {
  private readonly state = new Uint32Array([
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
  ])
  private readonly block = new Uint8Array(64)
  private readonly words = new Uint32Array(64)
  private filled = 0
  private length = 0

  update(data: Uint8Array): this {
    let i = 0
    this.length += data.length
    if (this.filled > 0) {
      const take = Math.min(64 - this.filled, data.length)
      this.block.set(data.subarray(0, take), this.filled)
      this.filled += take
      i = take
      if (this.filled < 64) return this
      this.compress(this.block, 0)
      this.filled = 0
    }
    for (; i + 64 <= data.length; i += 64) this.compress(data, i)
    if (i < data.length) {
      this.block.set(data.subarray(i), 0)
      this.filled = data.length - i
    }
    return this
  }

  /** The digest as lower-case hex. The hash cannot be updated afterwards. */
  hex(): string {
    const bits = this.length * 8
    const tail = new Uint8Array(((this.filled + 8) >> 6) * 64 + 64 - this.filled)
    tail[0] = 0x80
    const view = new DataView(tail.buffer)
    view.setUint32(tail.length - 8, Math.floor(bits / 2 ** 32))
    view.setUint32(tail.length - 4, bits >>> 0)
    const length = this.length
    this.update(tail)
    this.length = length
    return [...this.state].map((word) => word.toString(16).padStart(8, '0')).join('')
  }

  private compress(data: Uint8Array, at: number): void {
    const w = this.words
    for (let t = 0; t < 16; t += 1) {
      const j = at + t * 4
      w[t] = ((data[j] as number) << 24) | ((data[j + 1] as number) << 16) | ((data[j + 2] as number) << 8) | (data[j + 3] as number)
    }
    for (let t = 16; t < 64; t += 1) {
      const x = w[t - 15] as number
      const y = w[t - 2] as number
      const s0 = ((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3)
      const s1 = ((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10)
      w[t] = ((w[t - 16] as number) + s0 + (w[t - 7] as number) + s1) | 0
    }
    const s = this.state
    let a = s[0] as number
    let b = s[1] as number
    let c = s[2] as number
    let d = s[3] as number
    let e = s[4] as number
    let f = s[5] as number
    let g = s[6] as number
    let h = s[7] as number
    for (let t = 0; t < 64; t += 1) {
      const S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7))
      const ch = (e & f) ^ (~e & g)
      const t1 = (h + S1 + ch + (K[t] as number) + (w[t] as number)) | 0
      const S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10))
      const maj = (a & b) ^ (a & c) ^ (b & c)
      const t2 = (S0 + maj) | 0
      h = g
      g = f
      f = e
      e = (d + t1) | 0
      d = c
      c = b
      b = a
      a = (t1 + t2) | 0
    }
    s[0] = ((s[0] as number) + a) | 0
    s[1] = ((s[1] as number) + b) | 0
    s[2] = ((s[2] as number) + c) | 0
    s[3] = ((s[3] as number) + d) | 0
    s[4] = ((s[4] as number) + e) | 0
    s[5] = ((s[5] as number) + f) | 0
    s[6] = ((s[6] as number) + g) | 0
    s[7] = ((s[7] as number) + h) | 0
  }
}
