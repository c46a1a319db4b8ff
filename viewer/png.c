/*
 * png.c - writes an XRGB8888 surface as a PNG (RFC 2083): signature, IHDR
 * (8-bit RGB), one zlib-compressed IDAT of filter-0 rows, IEND. zlib is
 * already a dependency of the library, so pictures for docs need nothing
 * more than SDL2.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include "viewer.h"

static void be32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}

/* Length, type, data, CRC over type and data. */
static int put_chunk(FILE *f, const char *type, const uint8_t *data, uint32_t n) {
  uint8_t h[8];
  be32(h, n);
  memcpy(h + 4, type, 4);
  uLong crc = crc32(crc32(0, (const Bytef *)type, 4), data, n);
  uint8_t c[4];
  be32(c, (uint32_t)crc);
  return fwrite(h, 1, 8, f) == 8 && (n == 0 || fwrite(data, 1, n, f) == n) &&
         fwrite(c, 1, 4, f) == 4 ? 0 : -1;
}

int vw_save_png(SDL_Surface *s, const char *path) {
  if (s->format->format != SDL_PIXELFORMAT_XRGB8888 || s->w <= 0 || s->h <= 0) return -1;
  size_t row = 1 + (size_t)s->w * 3, n = row * (size_t)s->h;
  uint8_t *raw = malloc(n);
  uLongf zn = compressBound((uLong)n);
  uint8_t *z = malloc(zn);
  int rc = -1, err;
  if (!raw || !z) goto out;
  for (int y = 0; y < s->h; y++) {
    const uint32_t *px = (const uint32_t *)((const uint8_t *)s->pixels + (size_t)y * (size_t)s->pitch);
    uint8_t *o = raw + (size_t)y * row;
    *o++ = 0;  /* filter: none */
    for (int x = 0; x < s->w; x++) {
      *o++ = (uint8_t)(px[x] >> 16);
      *o++ = (uint8_t)(px[x] >> 8);
      *o++ = (uint8_t)px[x];
    }
  }
  if (compress2(z, &zn, raw, (uLong)n, 9) != Z_OK) goto out;
  FILE *f = fopen(path, "wb");
  if (!f) goto out;
  static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  uint8_t ihdr[13];
  be32(ihdr, (uint32_t)s->w);
  be32(ihdr + 4, (uint32_t)s->h);
  ihdr[8] = 8;   /* bit depth */
  ihdr[9] = 2;   /* colour type: RGB */
  ihdr[10] = ihdr[11] = ihdr[12] = 0;  /* deflate, adaptive filters, no interlace */
  rc = fwrite(sig, 1, 8, f) == 8 && put_chunk(f, "IHDR", ihdr, 13) == 0 &&
       put_chunk(f, "IDAT", z, (uint32_t)zn) == 0 && put_chunk(f, "IEND", NULL, 0) == 0 ? 0 : -1;
  if (fclose(f) != 0) rc = -1;
out:
  err = errno;  /* why it failed, for the caller's message */
  free(raw);
  free(z);
  errno = err;
  return rc;
}
