/**
 * What saving an RGB image as JPEG with PIL (libjpeg-turbo) and decoding it again does to its
 * pixels, computed without the (lossless) entropy coding: libjpeg's fixed-point RGB -> YCbCr,
 * 4:2:0 chroma subsampling (PIL's default), the accurate integer DCT (jfdctint.c), quantisation
 * with jpeg_set_quality's tables, the accurate integer inverse DCT (jidctint.c), "fancy"
 * (triangle) chroma upsampling and YCbCr -> RGB. Each step repeats libjpeg's integer arithmetic,
 * so the output equals PIL's decoded bytes. jpeg-js, used before, neither subsamples chroma nor
 * rounds as libjpeg does, and changed CIFAR images by 5.1 grey levels at quality 80 where PIL
 * changes them by 6.8.
 */

/** Annex K tables, natural (row-major) order, as jcparam.c holds them. */
const LUMA = [
  16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51, 87, 80, 62,
  18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92, 49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99,
];
const CHROMA = [
  17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99, 24, 26, 56, 99, 99, 99, 99, 99, 47, 66, 99, 99, 99, 99, 99, 99,
  99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99,
];

/** jpeg_set_quality(q, force_baseline = TRUE): libjpeg's quality scaling, entries clamped to 1..255. */
export function quantTable(basic: number[], quality: number): number[] {
  const q = Math.min(100, Math.max(1, quality));
  const scale = q < 50 ? Math.floor(5000 / q) : 200 - 2 * q;
  return basic.map((v) => Math.min(255, Math.max(1, Math.floor((v * scale + 50) / 100))));
}

const FIX = (x: number): number => Math.floor(x * 65536 + 0.5);
const HALF = 1 << 15;

/** jccolor.c rgb_ycc_convert. */
function rgbToYcc(r: number, g: number, b: number): [number, number, number] {
  const y = (FIX(0.299) * r + FIX(0.587) * g + FIX(0.114) * b + HALF) >> 16;
  const cb = (-FIX(0.16874) * r - FIX(0.33126) * g + FIX(0.5) * b + (128 << 16) + HALF - 1) >> 16;
  const cr = (FIX(0.5) * r - FIX(0.41869) * g - FIX(0.08131) * b + (128 << 16) + HALF - 1) >> 16;
  return [y, cb, cr];
}

const clampByte = (v: number): number => Math.min(255, Math.max(0, v));

/** jdcolor.c ycc_rgb_convert, with its tables' rounding. */
function yccToRgb(y: number, cb: number, cr: number): [number, number, number] {
  const [b0, r0] = [cb - 128, cr - 128];
  const r = y + ((FIX(1.402) * r0 + HALF) >> 16);
  const g = y + ((-FIX(0.34414) * b0 + HALF - FIX(0.71414) * r0) >> 16);
  const b = y + ((FIX(1.772) * b0 + HALF) >> 16);
  return [clampByte(r), clampByte(g), clampByte(b)];
}

const CONST_BITS = 13;
const PASS1_BITS = 2;
const C = {
  f0_298: 2446, f0_390: 3196, f0_541: 4433, f0_765: 6270, f0_899: 7373, f1_175: 9633,
  f1_501: 12299, f1_847: 15137, f1_961: 16069, f2_053: 16819, f2_562: 20995, f3_072: 25172,
};
// Division, not >>, since JS shifts wrap at 32 bits where libjpeg's JLONG does not.
const descale = (x: number, n: number): number => Math.floor((x + 2 ** (n - 1)) / 2 ** n);

/** The odd part shared by the forward and inverse DCTs: inputs tmp4..tmp7 (forward) or in7, in5, in3, in1 (inverse). */
function oddPart(t4: number, t5: number, t6: number, t7: number): [number, number, number, number] {
  const z5 = (t4 + t6 + t5 + t7) * C.f1_175;
  const z1 = (t4 + t7) * -C.f0_899;
  const z2 = (t5 + t6) * -C.f2_562;
  const z3 = (t4 + t6) * -C.f1_961 + z5;
  const z4 = (t5 + t7) * -C.f0_390 + z5;
  return [t4 * C.f0_298 + z1 + z3, t5 * C.f2_053 + z2 + z4, t6 * C.f3_072 + z2 + z3, t7 * C.f1_501 + z1 + z4];
}

/** jpeg_fdct_islow on level-shifted samples, in place: rows, then columns. */
function fdct(d: Int32Array): void {
  for (let pass = 0; pass < 2; pass++) {
    const [step, stride] = pass === 0 ? [1, 8] : [8, 1];
    for (let line = 0; line < 8; line++) {
      const o = line * stride;
      const v = (k: number) => d[o + k * step];
      const [t0, t7, t1, t6, t2, t5, t3, t4] = [v(0) + v(7), v(0) - v(7), v(1) + v(6), v(1) - v(6), v(2) + v(5), v(2) - v(5), v(3) + v(4), v(3) - v(4)];
      const [t10, t13, t11, t12] = [t0 + t3, t0 - t3, t1 + t2, t1 - t2];
      const z1 = (t12 + t13) * C.f0_541;
      const [o7, o5, o3, o1] = oddPart(t4, t5, t6, t7);
      const n = pass === 0 ? CONST_BITS - PASS1_BITS : CONST_BITS + PASS1_BITS;
      const out = [
        pass === 0 ? (t10 + t11) * 2 ** PASS1_BITS : descale(t10 + t11, PASS1_BITS),
        descale(o1, n),
        descale(z1 + t13 * C.f0_765, n),
        descale(o3, n),
        pass === 0 ? (t10 - t11) * 2 ** PASS1_BITS : descale(t10 - t11, PASS1_BITS),
        descale(o5, n),
        descale(z1 - t12 * C.f1_847, n),
        descale(o7, n),
      ];
      out.forEach((x, k) => (d[o + k * step] = x));
    }
  }
}

/** jpeg_idct_islow on dequantised coefficients, in place: columns, then rows; returns samples 0..255. */
function idct(d: Int32Array): void {
  for (let pass = 0; pass < 2; pass++) {
    const [step, stride] = pass === 0 ? [8, 1] : [1, 8];
    for (let line = 0; line < 8; line++) {
      const o = line * stride;
      const v = (k: number) => d[o + k * step];
      const z1 = (v(2) + v(6)) * C.f0_541;
      const t2 = z1 - v(6) * C.f1_847;
      const t3 = z1 + v(2) * C.f0_765;
      const t0 = (v(0) + v(4)) * 2 ** CONST_BITS;
      const t1 = (v(0) - v(4)) * 2 ** CONST_BITS;
      const [t10, t13, t11, t12] = [t0 + t3, t0 - t3, t1 + t2, t1 - t2];
      const [o0, o1, o2, o3] = oddPart(v(7), v(5), v(3), v(1));
      const n = pass === 0 ? CONST_BITS - PASS1_BITS : CONST_BITS + PASS1_BITS + 3;
      const out = [t10 + o3, t11 + o2, t12 + o1, t13 + o0, t13 - o0, t12 - o1, t11 - o2, t10 - o3].map((x) => descale(x, n));
      out.forEach((x, k) => (d[o + k * step] = pass === 0 ? x : clampByte(x + 128)));
    }
  }
}

/** A plane's DCT blocks quantised and reconstructed; `plane` is padded to whole blocks. */
function lossyPlane(plane: Int32Array, h: number, w: number, table: number[]): Int32Array {
  const out = new Int32Array(h * w);
  const block = new Int32Array(64);
  for (let bi = 0; bi < h; bi += 8) {
    for (let bj = 0; bj < w; bj += 8) {
      for (let k = 0; k < 64; k++) block[k] = plane[(bi + (k >> 3)) * w + bj + (k & 7)] - 128;
      fdct(block);
      for (let k = 0; k < 64; k++) {
        // jcdctmgr.c quantize: the DCT output is 8x the coefficient; divide by 8q, rounding half away from zero.
        const q = table[k] << 3;
        const level = Math.floor((Math.abs(block[k]) + (q >> 1)) / q);
        block[k] = (block[k] < 0 ? -level : level) * table[k];
      }
      idct(block);
      for (let k = 0; k < 64; k++) out[(bi + (k >> 3)) * w + bj + (k & 7)] = block[k];
    }
  }
  return out;
}

/** jdsample.c h2v2_fancy_upsample of an hc x wc plane (the rows and columns beyond are libjpeg's padding) to 2h x 2w. */
function fancyUpsample(p: Int32Array, stride: number, hc: number, wc: number): Int32Array {
  const out = new Int32Array(4 * hc * wc);
  const ow = 2 * wc;
  for (let i = 0; i < hc; i++) {
    for (const [half, near] of [[0, Math.max(0, i - 1)], [1, Math.min(hc - 1, i + 1)]]) {
      const col = (j: number) => 3 * p[i * stride + j] + p[near * stride + j];
      const row = (2 * i + half) * ow;
      if (wc === 1) {
        out[row] = (col(0) * 4 + 8) >> 4;
        out[row + 1] = (col(0) * 4 + 7) >> 4;
        continue;
      }
      for (let j = 0; j < wc; j++) {
        const [last, here, next] = [col(Math.max(0, j - 1)), col(j), col(Math.min(wc - 1, j + 1))];
        out[row + 2 * j] = j === 0 ? (here * 4 + 8) >> 4 : (here * 3 + last + 8) >> 4;
        out[row + 2 * j + 1] = j === wc - 1 ? (here * 4 + 7) >> 4 : (here * 3 + next + 7) >> 4;
      }
    }
  }
  return out;
}

/**
 * The RGB bytes (h x w x 3) PIL returns after `image.save(f, 'JPEG', quality=q)` and reopening
 * f, for RGB bytes `rgb`.
 */
export function libjpegRoundTrip(rgb: Uint8Array, h: number, w: number, quality: number): Uint8Array {
  // libjpeg replicates the last column out to whole 16-pixel MCUs before subsampling (and the last row, for luma).
  const [H, W] = [Math.ceil(h / 16) * 16, Math.ceil(w / 16) * 16];
  const planes = [new Int32Array(H * W), new Int32Array(H * W), new Int32Array(H * W)];
  for (let i = 0; i < H; i++) {
    for (let j = 0; j < W; j++) {
      const k = (Math.min(i, h - 1) * w + Math.min(j, w - 1)) * 3;
      rgbToYcc(rgb[k], rgb[k + 1], rgb[k + 2]).forEach((v, c) => (planes[c][i * W + j] = v));
    }
  }
  const [hc, wc] = [H / 2, W / 2];
  // The chroma samples the image covers; the decoder upsamples only these, replicating its last ones.
  const [ch, cw] = [Math.ceil(h / 2), Math.ceil(w / 2)];
  const subsample = (p: Int32Array): Int32Array => {
    // jcsample.c h2v2_downsample: the mean of 2x2, its rounding bias alternating 1, 2 along a row.
    // Below the image, jcprepct.c pads the subsampled plane with its last row, not the full-size one.
    const out = new Int32Array(hc * wc);
    for (let i = 0; i < hc; i++) {
      for (let j = 0; j < wc; j++) {
        const k = 2 * Math.min(i, ch - 1) * W + 2 * j;
        out[i * wc + j] = (p[k] + p[k + 1] + p[k + W] + p[k + W + 1] + 1 + (j & 1)) >> 2;
      }
    }
    return out;
  };
  const y = lossyPlane(planes[0], H, W, quantTable(LUMA, quality));
  const table = quantTable(CHROMA, quality);
  const [cb, cr] = [planes[1], planes[2]].map((p) => fancyUpsample(lossyPlane(subsample(p), hc, wc, table), wc, ch, cw));
  const out = new Uint8Array(h * w * 3);
  for (let i = 0; i < h; i++) {
    for (let j = 0; j < w; j++) {
      const c = i * 2 * cw + j;
      out.set(yccToRgb(y[i * W + j], cb[c], cr[c]), (i * w + j) * 3);
    }
  }
  return out;
}
