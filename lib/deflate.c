/*
 * deflate.c - the trace writer's own deflate encoder: a zlib stream
 * (RFC 1950) of deflate blocks (RFC 1951), made for speed on trace chunks,
 * which zlib's deflate compresses at some 500 instructions per
 * record whatever its level: greedy matching on hash chains of 6-byte
 * strings with a few candidates per position, and Huffman codes per block
 * of tokens (dynamic, fixed or stored, whichever is smallest). Any inflate
 * reads it. Same input, same bytes: nothing depends on the thread, the
 * clock or the allocation.
 */
#include <stdlib.h>
#include <string.h>
#include <zlib.h>  /* adler32 for the stream's trailer */
#include "deflate.h"

#define ZD_WINDOW      32768u  /* deflate's farthest distance */
#define ZD_MIN_MATCH   6u      /* shorter ones barely pay for their distance, and
                                  chains of 6-byte strings are short: on records
                                  both smaller and faster than 3 or 4 */
#define ZD_MAX_MATCH   258u
#define ZD_HASH_BITS   15u
#define ZD_DEPTH       8u      /* chain candidates tried per position */
#define ZD_INSERT_MAX  6u      /* positions inside longer matches are not indexed */
#define ZD_BLOCK       32768u  /* tokens per block: the codes follow the data */
#define ZD_NLITLEN     286u
#define ZD_NFIXED      288u    /* the fixed code also has 286 and 287 */
#define ZD_NDIST       30u
#define ZD_NLEN        29u     /* length symbols, 257..285 */
#define ZD_NCLEN       19u
#define ZD_MAX_BITS    15u     /* longest literal/length or distance code */
#define ZD_MAX_CLBITS  7u      /* longest code-length code */
#define ZD_END_BLOCK   256u
#define ZD_FIRST_LEN   257u    /* first length symbol */
#define ZD_MIN_NCLEN   4u      /* code-length code lengths always sent */
/* RFC 1951 3.2.3, 3.2.7: block header (BFINAL, BTYPE), the dynamic block's
   counts (HLIT, HDIST, HCLEN) and code-length code lengths */
#define ZD_BTYPE_STORED 0u
#define ZD_BTYPE_FIXED  1u
#define ZD_BTYPE_DYN    2u
#define ZD_HEAD_BITS    3u
#define ZD_HLIT_BITS    5u
#define ZD_HDIST_BITS   5u
#define ZD_HCLEN_BITS   4u
#define ZD_CLEN_BITS    3u
#define ZD_STORED_LEN_BITS 32u  /* LEN and NLEN */
/* code-length symbols that repeat: the previous length 3-6 times, zero
   3-10 times, zero 11-138 times */
#define ZD_CL_REPEAT   16u
#define ZD_CL_ZEROS    17u
#define ZD_CL_ZEROS7   18u
#define ZD_RUN_MIN     3u
#define ZD_REPEAT_MAX  6u
#define ZD_ZEROS7_MIN  11u
#define ZD_ZEROS7_MAX  138u
#define ZD_RLE_SHIFT   5u      /* run-length coded: symbol | extra value << 5 */
#define ZD_RLE_SYM     31u
#define ZD_MATCH       0x80000000u  /* token: match, (distance - 1) << 8 | (length - 3) */
#define ZD_STORED_MAX  65535u  /* bytes in one stored block */
#define ZD_ZLIB_HEAD0  0x78u   /* deflate, 32 KiB window */
#define ZD_ZLIB_HEAD1  0x01u   /* no dictionary, check bits: 0x7801 % 31 == 0 */

/* The output: bits not yet stored, low first (0..7 between puts). Kept in
   a local copy in the loops, where stores through o could otherwise alias
   the struct and force every field back to memory. */
typedef struct zd_bits {
  uint8_t *o;
  uint64_t bits;
  unsigned n;
} zd_bits;

struct apic__zdef {
  uint32_t head[1u << ZD_HASH_BITS];  /* latest position + 1 with this hash, 0: none */
  uint32_t chain[ZD_WINDOW];           /* the one before, by position mod the window */
  uint32_t tok[ZD_BLOCK];
  uint32_t lfreq[ZD_NLITLEN], dfreq[ZD_NDIST];
  uint8_t lsym[256];                   /* length - 3 -> length symbol - 257 */
  uint32_t ntok;
  size_t blk_start;                    /* first source byte of the block */
  const uint8_t *src;
  zd_bits out;
};

/* RFC 1951 3.2.5: base and extra bits of each length and distance symbol. */
static const uint16_t zd_lbase[ZD_NLEN] = {3,  4,  5,  6,  7,  8,  9,   10,  11,  13,
                                           15, 17, 19, 23, 27, 31, 35,  43,  51,  59,
                                           67, 83, 99, 115, 131, 163, 195, 227, 258};
static const uint8_t zd_lext[ZD_NLEN] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2,
                                         2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0};
static const uint8_t zd_dext[ZD_NDIST] = {0, 0, 0, 0, 1, 1, 2, 2,  3,  3,  4,  4,  5,  5,  6,
                                          6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13};
/* RFC 1951 3.2.7: the order code-length code lengths are sent in, and the
   extra bits of the three repeat symbols. */
static const uint8_t zd_clorder[ZD_NCLEN] = {16, 17, 18, 0, 8,  7, 9,  6, 10, 5,
                                             11, 4,  12, 3, 13, 2, 14, 1, 15};
static const uint8_t zd_clextra[3] = {2, 3, 7};

/* RFC 1951 3.2.6: the fixed literal/length code (distances: 5 bits each). */
static unsigned zd_fixed_len(unsigned s) { return s < 144 ? 8 : s < 256 ? 9 : s < 280 ? 7 : 8; }
#define ZD_FIXED_DIST_BITS 5u

/* The ZD_MIN_MATCH bytes at p, read as one word of ZD_STR_LOAD bytes (all
   of them must be in the input), and their hash. */
#define ZD_STR_LOAD 8u
#define ZD_STR_MASK ((1ull << (8 * ZD_MIN_MATCH)) - 1)
_Static_assert(ZD_MIN_MATCH < ZD_STR_LOAD, "a string fits in the word");
static inline uint64_t zd_str(const uint8_t *p) {
  uint64_t v;
  memcpy(&v, p, ZD_STR_LOAD);
  return v & ZD_STR_MASK;
}
static inline uint32_t zd_hash(uint64_t str) {
  return (uint32_t)((str * 0x9E3779B97F4A7C15ull) >> (64 - ZD_HASH_BITS));  /* 2^64 / golden ratio */
}
static inline uint64_t zd_rd64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }

/* distance - 1 -> distance symbol: two symbols per power of two from 4 */
static inline unsigned zd_dsym(uint32_t d) {
  if (d < 4) return d;
  unsigned nb = 31u - (unsigned)__builtin_clz(d);
  return 2 * nb + ((d >> (nb - 1)) & 1);
}

/* Appends n <= 56 bits; always stores 8 bytes, so the output keeps 8 spare. */
static inline void zd_put(zd_bits *b, uint64_t v, unsigned n) {
  b->bits |= v << b->n;
  b->n += n;
  memcpy(b->o, &b->bits, 8);
  b->o += b->n >> 3;
  b->bits >>= b->n & ~7u;
  b->n &= 7;
}

/* A code from zd_codes: the bits, and their number from ZD_CODE_SHIFT up. */
#define ZD_CODE_SHIFT 16u
#define ZD_CODE_BITS  0xFFFFu
static inline void zd_put_code(zd_bits *b, uint32_t c) {
  zd_put(b, c & ZD_CODE_BITS, c >> ZD_CODE_SHIFT);
}

static void zd_align(zd_bits *b) {
  if (b->n) zd_put(b, 0, 8 - b->n);
}

void apic__huff_lengths(const uint32_t *freq, unsigned n, unsigned maxbits, uint8_t *len) {
  uint16_t sym[ZD_NFIXED];
  uint32_t w[2 * ZD_NFIXED];
  uint16_t parent[2 * ZD_NFIXED];
  uint8_t depth[2 * ZD_NFIXED];
  unsigned m = 0;
  memset(len, 0, n);
  for (unsigned i = 0; i < n; i++)
    if (freq[i]) sym[m++] = (uint16_t)i;
  if (m < 2) {
    unsigned a = m ? sym[0] : 0;
    len[a] = len[a ? 0 : 1] = 1;
    return;
  }
  /* by (frequency, symbol): at most 286 symbols, once per block */
  for (unsigned i = 1; i < m; i++) {
    uint16_t s = sym[i];
    unsigned j = i;
    for (; j > 0 && freq[sym[j - 1]] > freq[s]; j--) sym[j] = sym[j - 1];
    sym[j] = s;
  }
  /* two queues: sorted leaves, and inner nodes in the order they are made */
  for (unsigned i = 0; i < m; i++) w[i] = freq[sym[i]];
  unsigned leaf = 0, inner = m;
  for (unsigned k = m; k < 2 * m - 1; k++) {
    for (int t = 0; t < 2; t++) {
      unsigned pick = leaf < m && (inner >= k || w[leaf] <= w[inner]) ? leaf++ : inner++;
      parent[pick] = (uint16_t)k;
      w[k] = t ? w[k] + w[pick] : w[pick];
    }
  }
  unsigned count[ZD_MAX_BITS + 1] = {0};
  depth[2 * m - 2] = 0;
  for (unsigned k = 2 * m - 2; k-- > 0;) {
    unsigned d = depth[parent[k]] + 1u;
    depth[k] = (uint8_t)(d < UINT8_MAX ? d : UINT8_MAX);
    if (k < m) count[d < maxbits ? d : maxbits]++;
  }
  /* Clamping deep leaves to maxbits over-fills the code (Kraft sum, in
     units of 2^-maxbits, above 2^maxbits). zlib's fix (trees.c, gen_bitlen)
     moves a leaf from the deepest level with room one level down, next to a
     leaf from maxbits: each move takes one unit off. */
  uint32_t kraft = 0;
  for (unsigned b = 1; b <= maxbits; b++) kraft += count[b] << (maxbits - b);
  for (; kraft > 1u << maxbits; kraft--) {
    unsigned b = maxbits - 1;
    while (count[b] == 0) b--;
    count[b]--;
    count[b + 1] += 2;
    count[maxbits]--;
  }
  /* the longest codes to the rarest symbols */
  unsigned i = 0;
  for (unsigned b = maxbits; b >= 1; b--)
    for (unsigned c = count[b]; c > 0; c--) len[sym[i++]] = (uint8_t)b;
}

/* Canonical codes (RFC 1951 3.2.2), bit-reversed for LSB-first output,
   with the length from ZD_CODE_SHIFT up. */
static void zd_codes(const uint8_t *len, unsigned n, uint32_t *code) {
  unsigned count[ZD_MAX_BITS + 1] = {0}, next[ZD_MAX_BITS + 1];
  for (unsigned i = 0; i < n; i++) count[len[i]]++;
  count[0] = 0;
  unsigned c = 0;
  for (unsigned b = 1; b <= ZD_MAX_BITS; b++) {
    c = (c + count[b - 1]) << 1;
    next[b] = c;
  }
  for (unsigned i = 0; i < n; i++) {
    unsigned l = len[i], v = l ? next[l]++ : 0, r = 0;
    for (unsigned b = 0; b < l; b++, v >>= 1) r = r << 1 | (v & 1);
    code[i] = r | (uint32_t)l << ZD_CODE_SHIFT;
  }
}

static void zd_stored(const apic__zdef *z, zd_bits *b, size_t from, size_t to, int final) {
  do {
    size_t k = to - from < ZD_STORED_MAX ? to - from : ZD_STORED_MAX;
    zd_put(b, (uint64_t)(final && from + k == to) | ZD_BTYPE_STORED << 1, ZD_HEAD_BITS);
    zd_align(b);
    zd_put(b, (uint64_t)k | (uint64_t)(~k & ZD_STORED_MAX) << 16, ZD_STORED_LEN_BITS);
    memcpy(b->o, z->src + from, k);
    b->o += k;
    from += k;
  } while (from < to);
}

/* Writes the block's tokens with the codes in lc (literal/length) and dc. */
static void zd_tokens(const apic__zdef *z, zd_bits *out, const uint32_t *lc, const uint32_t *dc) {
  /* a length's code and extra bits in one number, for all 256 lengths */
  uint32_t lfull[256];
  uint8_t lbits[256];
  for (unsigned l = 0; l < 256; l++) {
    unsigned s = z->lsym[l], c = lc[ZD_FIRST_LEN + s], n = c >> ZD_CODE_SHIFT;
    lfull[l] = (c & ZD_CODE_BITS) | (l + 3 - zd_lbase[s]) << n;
    lbits[l] = (uint8_t)(n + zd_lext[s]);
  }
  zd_bits b = *out;
  for (uint32_t i = 0; i < z->ntok; i++) {
    uint32_t t = z->tok[i];
    if (!(t & ZD_MATCH)) {
      zd_put_code(&b, lc[t]);
      continue;
    }
    unsigned l = t & 0xFF, d = (t >> 8) & (ZD_WINDOW - 1), ds = zd_dsym(d);
    unsigned dn = dc[ds] >> ZD_CODE_SHIFT, de = zd_dext[ds];
    uint64_t dv = (dc[ds] & ZD_CODE_BITS) | (uint64_t)(d & ((1u << de) - 1)) << dn;
    zd_put(&b, lfull[l] | dv << lbits[l], lbits[l] + dn + de);
  }
  zd_put_code(&b, lc[ZD_END_BLOCK]);
  *out = b;
}

/* Writes the tokens gathered since blk_start, ending at source byte end. */
static void zd_block(apic__zdef *z, size_t end, int final) {
  z->lfreq[ZD_END_BLOCK] = 1;
  uint8_t ll[ZD_NLITLEN + ZD_NDIST], *dl = ll + ZD_NLITLEN;
  apic__huff_lengths(z->lfreq, ZD_NLITLEN, ZD_MAX_BITS, ll);
  apic__huff_lengths(z->dfreq, ZD_NDIST, ZD_MAX_BITS, dl);
  unsigned nl = ZD_NLITLEN, nd = ZD_NDIST;
  while (nl > ZD_FIRST_LEN && !ll[nl - 1]) nl--;
  while (nd > 1 && !dl[nd - 1]) nd--;
  /* the code lengths, run-length coded (3.2.7) */
  uint8_t seq[ZD_NLITLEN + ZD_NDIST];
  memcpy(seq, ll, nl);
  memcpy(seq + nl, dl, nd);
  unsigned nseq = nl + nd, nrle = 0;
  uint16_t rle[ZD_NLITLEN + ZD_NDIST];
  uint32_t cf[ZD_NCLEN] = {0};
  for (unsigned i = 0; i < nseq;) {
    unsigned v = seq[i], run = 1;
    while (i + run < nseq && seq[i + run] == v) run++;
    i += run;
    if (v == 0) {
      for (; run >= ZD_ZEROS7_MIN; cf[ZD_CL_ZEROS7]++) {
        unsigned r = run < ZD_ZEROS7_MAX ? run : ZD_ZEROS7_MAX;
        rle[nrle++] = (uint16_t)(ZD_CL_ZEROS7 | (r - ZD_ZEROS7_MIN) << ZD_RLE_SHIFT);
        run -= r;
      }
      if (run >= ZD_RUN_MIN) {
        rle[nrle++] = (uint16_t)(ZD_CL_ZEROS | (run - ZD_RUN_MIN) << ZD_RLE_SHIFT);
        cf[ZD_CL_ZEROS]++;
        run = 0;
      }
    } else {
      rle[nrle++] = (uint16_t)v;
      cf[v]++;
      for (run--; run >= ZD_RUN_MIN; cf[ZD_CL_REPEAT]++) {
        unsigned r = run < ZD_REPEAT_MAX ? run : ZD_REPEAT_MAX;
        rle[nrle++] = (uint16_t)(ZD_CL_REPEAT | (r - ZD_RUN_MIN) << ZD_RLE_SHIFT);
        run -= r;
      }
    }
    for (; run > 0; run--, cf[v]++) rle[nrle++] = (uint16_t)v;
  }
  uint8_t cl[ZD_NCLEN];
  uint32_t cc[ZD_NCLEN];
  apic__huff_lengths(cf, ZD_NCLEN, ZD_MAX_CLBITS, cl);
  zd_codes(cl, ZD_NCLEN, cc);
  unsigned ncl = ZD_NCLEN;
  while (ncl > ZD_MIN_NCLEN && !cl[zd_clorder[ncl - 1]]) ncl--;
  /* each kind of block's size in bits; stored counts the most padding */
  uint64_t extra = 0, fix = ZD_HEAD_BITS;
  uint64_t dyn = ZD_HEAD_BITS + ZD_HLIT_BITS + ZD_HDIST_BITS + ZD_HCLEN_BITS +
                 ZD_CLEN_BITS * (uint64_t)ncl;
  for (unsigned i = 0; i < nrle; i++) {
    unsigned s = rle[i] & ZD_RLE_SYM;
    dyn += cl[s] + (s >= ZD_CL_REPEAT ? zd_clextra[s - ZD_CL_REPEAT] : 0);
  }
  for (unsigned s = 0; s < ZD_NLITLEN; s++) {
    uint64_t f = z->lfreq[s];
    dyn += f * ll[s];
    fix += f * zd_fixed_len(s);
    if (s >= ZD_FIRST_LEN) extra += f * zd_lext[s - ZD_FIRST_LEN];
  }
  for (unsigned s = 0; s < ZD_NDIST; s++) {
    dyn += (uint64_t)z->dfreq[s] * dl[s];
    fix += (uint64_t)z->dfreq[s] * ZD_FIXED_DIST_BITS;
    extra += (uint64_t)z->dfreq[s] * zd_dext[s];
  }
  dyn += extra;
  fix += extra;
  size_t bytes = end - z->blk_start, pieces = (bytes + ZD_STORED_MAX - 1) / ZD_STORED_MAX + !bytes;
  uint64_t stored = pieces * (ZD_HEAD_BITS + 7 + ZD_STORED_LEN_BITS) + 8 * (uint64_t)bytes;
  uint32_t lc[ZD_NFIXED], dc[ZD_NDIST];
  zd_bits *b = &z->out;
  if (stored < dyn && stored < fix) {
    zd_stored(z, b, z->blk_start, end, final);
  } else if (fix <= dyn) {
    uint8_t fl[ZD_NFIXED + ZD_NDIST];
    for (unsigned s = 0; s < ZD_NFIXED; s++) fl[s] = (uint8_t)zd_fixed_len(s);
    memset(fl + ZD_NFIXED, ZD_FIXED_DIST_BITS, ZD_NDIST);
    zd_codes(fl, ZD_NFIXED, lc);
    zd_codes(fl + ZD_NFIXED, ZD_NDIST, dc);
    zd_put(b, (uint64_t)final | ZD_BTYPE_FIXED << 1, ZD_HEAD_BITS);
    zd_tokens(z, b, lc, dc);
  } else {
    zd_codes(ll, ZD_NLITLEN, lc);
    zd_codes(dl, ZD_NDIST, dc);
    zd_put(b, (uint64_t)final | ZD_BTYPE_DYN << 1, ZD_HEAD_BITS);
    zd_put(b, nl - ZD_FIRST_LEN, ZD_HLIT_BITS);
    zd_put(b, nd - 1, ZD_HDIST_BITS);
    zd_put(b, ncl - ZD_MIN_NCLEN, ZD_HCLEN_BITS);
    for (unsigned i = 0; i < ncl; i++) zd_put(b, cl[zd_clorder[i]], ZD_CLEN_BITS);
    for (unsigned i = 0; i < nrle; i++) {
      unsigned s = rle[i] & ZD_RLE_SYM;
      zd_put_code(b, cc[s]);
      if (s >= ZD_CL_REPEAT) zd_put(b, rle[i] >> ZD_RLE_SHIFT, zd_clextra[s - ZD_CL_REPEAT]);
    }
    zd_tokens(z, b, lc, dc);
  }
  z->ntok = 0;
  z->blk_start = end;
  memset(z->lfreq, 0, sizeof z->lfreq);
  memset(z->dfreq, 0, sizeof z->dfreq);
}

static size_t zd_matchlen(const uint8_t *a, const uint8_t *b, size_t maxn) {
  size_t n = 0;
  for (; n + 8 <= maxn; n += 8) {
    uint64_t x = zd_rd64(a + n) ^ zd_rd64(b + n);
    if (x) return n + ((unsigned)__builtin_ctzll(x) >> 3);
  }
  while (n < maxn && a[n] == b[n]) n++;
  return n;
}

size_t apic__zdef_bound(size_t n) {
  size_t blocks = n / ZD_BLOCK + 1;  /* a token covers a byte or more */
  return 2 + n + (n / ZD_STORED_MAX + 2 * blocks) * 5 + 4 + 8;
}

size_t apic__zdef_compress(apic__zdef *z, uint8_t *out, const uint8_t *src, size_t n) {
  memset(z->head, 0, sizeof z->head);
  memset(z->lfreq, 0, sizeof z->lfreq);
  memset(z->dfreq, 0, sizeof z->dfreq);
  z->blk_start = 0;
  z->src = src;
  z->out = (zd_bits){out, 0, 0};
  *z->out.o++ = ZD_ZLIB_HEAD0;
  *z->out.o++ = ZD_ZLIB_HEAD1;
  uint32_t *head = z->head, *chain = z->chain, *tok = z->tok, *lfreq = z->lfreq;
  uint32_t ntok = 0;  /* a local: the stores into the arrays cannot touch it */
  size_t i = 0, last = n >= ZD_STR_LOAD ? n - ZD_STR_LOAD + 1 : 0;  /* zd_str may read */
  while (i < last) {
    const uint8_t *q = src + i;
    uint64_t cur = zd_str(q);
    uint32_t h = zd_hash(cur);
    uint32_t c = head[h];
    chain[i & (ZD_WINDOW - 1)] = c;
    head[h] = (uint32_t)i + 1;
    size_t maxl = n - i < ZD_MAX_MATCH ? n - i : ZD_MAX_MATCH;
    size_t best = ZD_MIN_MATCH - 1, bdist = 0;
    for (unsigned k = ZD_DEPTH; c && k; k--) {
      size_t pos = c - 1, dist = i - pos;
      if (dist >= ZD_WINDOW) break;
      if (src[pos + best] == q[best] && zd_str(src + pos) == cur) {
        size_t l = zd_matchlen(src + pos, q, maxl);
        if (l > best) {
          best = l;
          bdist = dist;
          if (l == maxl) break;
        }
      }
      c = chain[pos & (ZD_WINDOW - 1)];
    }
    if (!bdist) {
      tok[ntok++] = *q;
      lfreq[*q]++;
      i++;
    } else {
      tok[ntok++] = ZD_MATCH | (uint32_t)(bdist - 1) << 8 | (uint32_t)(best - 3);
      lfreq[ZD_FIRST_LEN + z->lsym[best - 3]]++;
      z->dfreq[zd_dsym((uint32_t)(bdist - 1))]++;
      size_t e = i + best;
      if (best <= ZD_INSERT_MAX) {
        for (i++; i < e && i < last; i++) {
          uint32_t hh = zd_hash(zd_str(src + i));
          chain[i & (ZD_WINDOW - 1)] = head[hh];
          head[hh] = (uint32_t)i + 1;
        }
      }
      i = e;
    }
    if (ntok == ZD_BLOCK) {
      z->ntok = ntok;
      zd_block(z, i, 0);
      ntok = 0;
    }
  }
  for (; i < n; i++) {
    tok[ntok++] = src[i];
    lfreq[src[i]]++;
    if (ntok == ZD_BLOCK) {
      z->ntok = ntok;
      zd_block(z, i + 1, 0);
      ntok = 0;
    }
  }
  z->ntok = ntok;
  zd_block(z, n, 1);
  zd_align(&z->out);
  uint32_t adler = (uint32_t)adler32(1, src, (uInt)n);  /* chunks are at most 256 MiB */
  for (int k = 3; k >= 0; k--) *z->out.o++ = (uint8_t)(adler >> (8 * k));
  return (size_t)(z->out.o - out);
}

apic__zdef *apic__zdef_new(void) {
  apic__zdef *z = malloc(sizeof *z);
  if (!z) return NULL;
  /* length - 3 -> symbol; 258 has a symbol of its own, not 227's last */
  for (unsigned s = 0; s < ZD_NLEN; s++)
    for (unsigned l = zd_lbase[s]; l < zd_lbase[s] + (1u << zd_lext[s]) && l < ZD_MAX_MATCH; l++)
      z->lsym[l - 3] = (uint8_t)s;
  z->lsym[ZD_MAX_MATCH - 3] = ZD_NLEN - 1;
  return z;
}

void apic__zdef_free(apic__zdef *z) { free(z); }
