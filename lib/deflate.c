/*
 * deflate.c - the trace writer's own deflate encoder: a zlib stream
 * (RFC 1950) of deflate blocks (RFC 1951), made for speed on trace chunks,
 * which zlib's deflate compresses at some 500 instructions per
 * record at level 1 (over 1000 at 6): greedy matching on hash chains of 7-byte
 * strings with a few candidates per position, and Huffman codes per block
 * of tokens (dynamic, fixed or stored, whichever is smallest): some 120
 * instructions a record in all. Any inflate reads it. Same input, same
 * bytes: nothing depends on the thread, the clock or the allocation.
 */
#include <stdlib.h>
#include <string.h>
#include "deflate.h"

/* Strings are compared and bits written 8 bytes at a time through memcpy,
   which gives the stream's byte order only on a little-endian host. */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "lib/deflate.c assumes a little-endian host"
#endif

#define ZD_WINDOW      32768u  /* deflate's farthest distance */
#define ZD_MIN_MATCH   7u      /* shorter ones barely pay for their distance, and
                                  chains of 7-byte strings are short: on records
                                  both smaller and faster than 5, 6 or 8 */
#define ZD_MAX_MATCH   258u
#define ZD_HASH_BITS   15u
#define ZD_DEPTH       8u      /* chain candidates tried per position */
#define ZD_NICE        10u     /* a match this long ends the search (most are):
                                  the rest of the chain would cost 7% more
                                  instructions for 1% fewer bytes */
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
/* A token: a literal byte, or ZD_MATCH | distance extra bits << ZD_TOK_DEXT |
   distance symbol << ZD_TOK_DSYM | (length - 3): what zd_tokens writes,
   worked out once where the match is found. */
#define ZD_MATCH       0x80000000u
#define ZD_TOK_DSYM    8u
#define ZD_TOK_DEXT    13u
#define ZD_TOK_LEN     0xFFu
#define ZD_TOK_DSYM_MASK 0x1Fu
#define ZD_TOK_DEXT_MASK 0x1FFFu  /* 13 bits, the most a distance has */
#define ZD_TOK_END     0xFFFFFFFFu  /* no token: distance symbol 31 */
#define ZD_DSYM_SPLIT  256u    /* zlib's dist_code: distance - 1 below this, or */
#define ZD_DSYM_SHIFT  7u      /* above it by its top bits (symbols from 16 span 2^7 or more) */
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

/* Positions in head and chain count on from chunk to chunk: src[i] is
   base + i, and the next chunk starts a window past this one's end, so the
   distance check that ends a chain also drops every older chunk's entries
   (and the zeros of a fresh table) without clearing the table. */
struct apic__zdef {
  uint32_t head[1u << ZD_HASH_BITS];  /* latest position with this hash */
  uint32_t chain[ZD_WINDOW];           /* the one before, by position mod the window */
  uint32_t base;                       /* position of the chunk's first byte */
  uint32_t tok[ZD_BLOCK + 1];          /* and ZD_TOK_END after the block's */
  uint32_t lfreq[ZD_NLITLEN], dfreq[ZD_NDIST];
  uint8_t lsym[256];                   /* length - 3 -> length symbol - 257 */
  uint8_t dsym[2 * ZD_DSYM_SPLIT];     /* distance - 1 -> symbol, see zd_dist_tok */
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
static const uint16_t zd_dbase[ZD_NDIST] = {1,    2,    3,    4,    5,    7,     9,     13,
                                            17,   25,   33,   49,   65,   97,    129,   193,
                                            257,  385,  513,  769,  1025, 1537,  2049,  3073,
                                            4097, 6145, 8193, 12289, 16385, 24577};
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

/* Words of 8 bytes, the first in the low bits (as x86 loads them). The
   ZD_MIN_MATCH bytes at p are the word there (all 8 bytes must be in the
   input) shifted up past the rest; two strings are the same when the
   words' difference so shifted is 0, and the difference's lowest set bit
   tells how many bytes agree. */
#define ZD_STR_LOAD  8u
#define ZD_STR_SHIFT (8 * (ZD_STR_LOAD - ZD_MIN_MATCH))
_Static_assert(ZD_MIN_MATCH < ZD_STR_LOAD, "a string fits in the word");
static inline uint64_t zd_rd64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }
#define ZD_HASH_MUL  0x9E3779B97F4A7C15ull  /* 2^64 / golden ratio */
static inline uint32_t zd_hash(uint64_t word) {
  return (uint32_t)(((word << ZD_STR_SHIFT) * ZD_HASH_MUL) >> (64 - ZD_HASH_BITS));
}

/* distance - 1 -> its symbol and extra bits, in a token's places */
static inline uint32_t zd_dist_tok(const apic__zdef *z, uint32_t d) {
  uint32_t sym = z->dsym[d < ZD_DSYM_SPLIT ? d : ZD_DSYM_SPLIT + (d >> ZD_DSYM_SHIFT)];
  return sym << ZD_TOK_DSYM | (d + 1 - zd_dbase[sym]) << ZD_TOK_DEXT;
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

/* Shell sort's gaps (Ciura's): on a block's 286 symbols the lengths take
   a third of the instructions they took with insertion sort. */
static const uint16_t zd_gaps[] = {132, 57, 23, 10, 4, 1};
#define ZD_KEY_SYM_BITS 16u

void apic__huff_lengths(const uint32_t *freq, unsigned n, unsigned maxbits, uint8_t *len) {
  uint64_t key[ZD_NFIXED];  /* frequency << ZD_KEY_SYM_BITS | symbol */
  uint16_t sym[ZD_NFIXED];
  uint32_t w[2 * ZD_NFIXED];
  uint16_t parent[2 * ZD_NFIXED];
  uint8_t depth[2 * ZD_NFIXED];
  unsigned m = 0;
  memset(len, 0, n);
  for (unsigned i = 0; i < n; i++)
    if (freq[i]) key[m++] = (uint64_t)freq[i] << ZD_KEY_SYM_BITS | i;
  if (m < 2) {
    unsigned a = m ? (uint16_t)key[0] : 0;
    len[a] = len[a ? 0 : 1] = 1;
    return;
  }
  /* by (frequency, symbol) */
  for (unsigned g = 0; g < sizeof zd_gaps / sizeof zd_gaps[0]; g++) {
    unsigned gap = zd_gaps[g];
    for (unsigned i = gap; i < m; i++) {
      uint64_t k = key[i];
      unsigned j = i;
      for (; j >= gap && key[j - gap] > k; j -= gap) key[j] = key[j - gap];
      key[j] = k;
    }
  }
  /* two queues: sorted leaves, and inner nodes in the order they are made */
  for (unsigned i = 0; i < m; i++) {
    sym[i] = (uint16_t)key[i];
    w[i] = (uint32_t)(key[i] >> ZD_KEY_SYM_BITS);
  }
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
    unsigned l = len[i], v = l ? next[l]++ : 0;
    /* reversed: swap the bits pairwise, then the pairs, nibbles and bytes */
    v = (v & 0x5555u) << 1 | (v >> 1 & 0x5555u);
    v = (v & 0x3333u) << 2 | (v >> 2 & 0x3333u);
    v = (v & 0x0F0Fu) << 4 | (v >> 4 & 0x0F0Fu);
    v = (v & 0x00FFu) << 8 | (v >> 8 & 0x00FFu);
    code[i] = v >> (ZD_MAX_BITS + 1 - l) | (uint32_t)l << ZD_CODE_SHIFT;
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

/* Writes the block's tokens with the codes in lc (literal/length) and dc.
   Bits gather in a 64-bit word that goes out 32 at a time: after a flush
   fewer than 32 wait, room for a literal (15 bits) or either half of a
   match (length 15 + 5, distance 15 + 13). */
#define ZD_FLUSH_BITS 32u
static inline void zd_flush(uint64_t *bits, unsigned *n, uint8_t **o) {
  if (*n >= ZD_FLUSH_BITS) {
    uint32_t w = (uint32_t)*bits;
    memcpy(*o, &w, sizeof w);
    *o += sizeof w;
    *bits >>= ZD_FLUSH_BITS;
    *n -= ZD_FLUSH_BITS;
  }
}

static void zd_tokens(apic__zdef *z, zd_bits *out, const uint32_t *lc, const uint32_t *dc) {
  /* each literal's code and its length apart, to take neither out of the
     other; a length's code and extra bits in one number, for all 256
     lengths; a distance symbol's bits with its extra ones */
  uint16_t lcode[256], dcode[ZD_NDIST];
  uint8_t llen[256], dlen[ZD_NDIST], dbits[ZD_NDIST];
  uint32_t lfull[256];
  uint8_t lbits[256];
  for (unsigned l = 0; l < 256; l++) {
    lcode[l] = (uint16_t)(lc[l] & ZD_CODE_BITS);
    llen[l] = (uint8_t)(lc[l] >> ZD_CODE_SHIFT);
    unsigned s = z->lsym[l], c = lc[ZD_FIRST_LEN + s], n = c >> ZD_CODE_SHIFT;
    lfull[l] = (c & ZD_CODE_BITS) | (l + 3 - zd_lbase[s]) << n;
    lbits[l] = (uint8_t)(n + zd_lext[s]);
  }
  for (unsigned s = 0; s < ZD_NDIST; s++) {
    dcode[s] = (uint16_t)(dc[s] & ZD_CODE_BITS);
    dlen[s] = (uint8_t)(dc[s] >> ZD_CODE_SHIFT);
    dbits[s] = (uint8_t)(dlen[s] + zd_dext[s]);
  }
  uint64_t bits = out->bits;
  unsigned n = out->n;
  uint8_t *o = out->o;
  z->tok[z->ntok] = ZD_TOK_END;  /* the loop's one test for its end, on matches only */
  for (const uint32_t *tp = z->tok;;) {
    uint32_t t = *tp++;
    if (t < ZD_MATCH) {
      bits |= (uint64_t)lcode[t] << n;
      n += llen[t];
    } else {
      if (t == ZD_TOK_END) break;
      unsigned l = t & ZD_TOK_LEN, ds = (t >> ZD_TOK_DSYM) & ZD_TOK_DSYM_MASK;
      bits |= (uint64_t)lfull[l] << n;
      n += lbits[l];
      zd_flush(&bits, &n, &o);
      uint32_t dv = dcode[ds] | ((t >> ZD_TOK_DEXT) & ZD_TOK_DEXT_MASK) << dlen[ds];
      bits |= (uint64_t)dv << n;
      n += dbits[ds];
    }
    zd_flush(&bits, &n, &o);
  }
  zd_bits b = {o, bits, n};
  zd_put(&b, 0, 0);  /* back to fewer than 8 bits waiting */
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

/* RFC 1950 8.2: the Adler-32 of the stream's bytes, its trailer. zlib's
   adds byte by byte (some 3.5 instructions each); here eight at a time,
   in the 16-bit lanes of a word: the even bytes in one, the odd in another
   (se, so), with their running totals (pe, po). Over a step of J words
   byte m of N = 8J adds (N - m) times itself to s2: 8 times the sum of the
   words' running totals, less each byte's place in its word. In a step of
   16 words no lane reaches 2^16 (a running total, 255 * 136, is the most),
   nor do the sums of se's and so's lanes, plain or weighted by the places
   (255 * 16 * 16 at most), taken by multiplying: the lanes add up into the
   top one. The running totals' lanes are added in pairs first. */
#define ZD_ADLER_MOD   65521u
#define ZD_ADLER_STEP  128u
#define ZD_ADLER_RUN   (1u << 20)  /* bytes between reductions: s2 stays under 2^50 */
#define ZD_LANES_LO    0x00FF00FF00FF00FFull
#define ZD_LANES_PAIR  0x0000FFFF0000FFFFull
#define ZD_LANES_SUM   0x0001000100010001ull  /* (x * this) >> 48: the lanes' sum */
#define ZD_LANES_EVEN  0x0000000200040006ull  /* ... weighted 0, 2, 4, 6 */
#define ZD_LANES_ODD   0x0001000300050007ull  /* ... weighted 1, 3, 5, 7 */
static uint32_t zd_adler32(const uint8_t *p, size_t n) {
  uint64_t s1 = 1, s2 = 0;
  while (n > 0) {
    size_t k = n < ZD_ADLER_RUN ? n : ZD_ADLER_RUN;
    n -= k;
    for (; k >= ZD_ADLER_STEP; k -= ZD_ADLER_STEP, p += ZD_ADLER_STEP) {
      uint64_t se = 0, so = 0, pe = 0, po = 0;
      for (unsigned w = 0; w < ZD_ADLER_STEP; w += 16) {  /* two words a turn */
        uint64_t v = zd_rd64(p + w), u = zd_rd64(p + w + 8);
        se += v & ZD_LANES_LO;
        so += (v >> 8) & ZD_LANES_LO;
        pe += se;
        po += so;
        se += u & ZD_LANES_LO;
        so += (u >> 8) & ZD_LANES_LO;
        pe += se;
        po += so;
      }
      uint64_t t = (pe & ZD_LANES_PAIR) + ((pe >> 16) & ZD_LANES_PAIR) +
                   (po & ZD_LANES_PAIR) + ((po >> 16) & ZD_LANES_PAIR);
      uint64_t totals = (t & UINT32_MAX) + (t >> 32);
      uint64_t places = ((se * ZD_LANES_EVEN) >> 48) + ((so * ZD_LANES_ODD) >> 48);
      s2 += ZD_ADLER_STEP * s1 + 8 * totals - places;
      s1 += ((se + so) * ZD_LANES_SUM) >> 48;
    }
    for (; k > 0; k--) {
      s1 += *p++;
      s2 += s1;
    }
    s1 %= ZD_ADLER_MOD;
    s2 %= ZD_ADLER_MOD;
  }
  return (uint32_t)(s2 << 16 | s1);
}

/* How far a and b agree from n on, up to maxn. */
static size_t zd_matchlen(const uint8_t *a, const uint8_t *b, size_t n, size_t maxn) {
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
  /* positions would wrap (n stays below 4 GiB less two windows): a clear table */
  if (n + 2 * (size_t)ZD_WINDOW > UINT32_MAX - z->base) {
    memset(z->head, 0, sizeof z->head);
    z->base = ZD_WINDOW;
  }
  memset(z->lfreq, 0, sizeof z->lfreq);
  memset(z->dfreq, 0, sizeof z->dfreq);
  z->blk_start = 0;
  z->src = src;
  z->out = (zd_bits){out, 0, 0};
  *z->out.o++ = ZD_ZLIB_HEAD0;
  *z->out.o++ = ZD_ZLIB_HEAD1;
  /* q walks the input, p its position (both locals, which the stores into
     the arrays cannot touch); words are read up to qlast */
  const uint8_t *q = src, *end = src + n, *qlast = n >= ZD_STR_LOAD ? end - ZD_STR_LOAD + 1 : src;
  uint32_t ntok = 0, p = z->base;
  while (q < qlast) {
    uint64_t word = zd_rd64(q);
    uint32_t h = zd_hash(word), c = z->head[h];
    z->chain[p & (ZD_WINDOW - 1)] = c;
    z->head[h] = p;
    size_t best = ZD_MIN_MATCH - 1;
    uint32_t bdist = 0;
    for (unsigned k = ZD_DEPTH;; c = z->chain[c & (ZD_WINDOW - 1)]) {
      uint32_t dist = p - c;
      if (dist >= ZD_WINDOW) break;  /* too far, or from an older chunk */
      const uint8_t *m = q - dist;
      uint64_t x;
      if (m[best] == q[best] && !((x = zd_rd64(m) ^ word) << ZD_STR_SHIFT)) {
        /* the word tells the length when it differs (q < qlast: maxl >= 8) */
        size_t maxl = (size_t)(end - q) < ZD_MAX_MATCH ? (size_t)(end - q) : ZD_MAX_MATCH;
        size_t l = x ? (unsigned)__builtin_ctzll(x) >> 3 : zd_matchlen(m, q, ZD_STR_LOAD, maxl);
        if (l > best) {
          best = l;
          bdist = dist;
          if (l >= ZD_NICE || l == maxl) break;
        }
      }
      if (--k == 0) break;
    }
    if (!bdist) {
      uint8_t lit = *q++;
      z->tok[ntok++] = lit;
      z->lfreq[lit]++;
      p++;
    } else {
      uint32_t dt = zd_dist_tok(z, bdist - 1);
      z->tok[ntok++] = ZD_MATCH | dt | (uint32_t)(best - 3);
      z->lfreq[ZD_FIRST_LEN + z->lsym[best - 3]]++;
      z->dfreq[(dt >> ZD_TOK_DSYM) & ZD_TOK_DSYM_MASK]++;
      /* of the positions inside the match only the middle one is indexed:
         on records some 3% fewer bytes than none, for 4% more instructions */
      size_t mid = best / 2;
      if (q + mid < qlast) {
        uint32_t hh = zd_hash(zd_rd64(q + mid));
        z->chain[(p + mid) & (ZD_WINDOW - 1)] = z->head[hh];
        z->head[hh] = p + (uint32_t)mid;
      }
      q += best;
      p += (uint32_t)best;
    }
    if (ntok == ZD_BLOCK) {
      z->ntok = ntok;
      zd_block(z, (size_t)(q - src), 0);
      ntok = 0;
    }
  }
  for (; q < end; q++) {
    z->tok[ntok++] = *q;
    z->lfreq[*q]++;
    if (ntok == ZD_BLOCK) {
      z->ntok = ntok;
      zd_block(z, (size_t)(q + 1 - src), 0);
      ntok = 0;
    }
  }
  z->ntok = ntok;
  zd_block(z, n, 1);
  zd_align(&z->out);
  z->base += (uint32_t)n + ZD_WINDOW;
  uint32_t adler = zd_adler32(src, n);
  for (int k = 3; k >= 0; k--) *z->out.o++ = (uint8_t)(adler >> (8 * k));
  return (size_t)(z->out.o - out);
}

apic__zdef *apic__zdef_new(void) {
  apic__zdef *z = calloc(1, sizeof *z);  /* head: positions older than any chunk's */
  if (!z) return NULL;
  z->base = ZD_WINDOW;
  /* length - 3 -> symbol; 258 has a symbol of its own, not 227's last */
  for (unsigned s = 0; s < ZD_NLEN; s++)
    for (unsigned l = zd_lbase[s]; l < zd_lbase[s] + (1u << zd_lext[s]) && l < ZD_MAX_MATCH; l++)
      z->lsym[l - 3] = (uint8_t)s;
  z->lsym[ZD_MAX_MATCH - 3] = ZD_NLEN - 1;
  /* distance - 1 -> symbol: each one below ZD_DSYM_SPLIT, every 2^7th above */
  for (unsigned s = 0; s < ZD_NDIST; s++)
    for (unsigned d = zd_dbase[s] - 1u; d < zd_dbase[s] - 1u + (1u << zd_dext[s]);
         d += d < ZD_DSYM_SPLIT ? 1 : 1u << ZD_DSYM_SHIFT)
      z->dsym[d < ZD_DSYM_SPLIT ? d : ZD_DSYM_SPLIT + (d >> ZD_DSYM_SHIFT)] = (uint8_t)s;
  return z;
}

void apic__zdef_free(apic__zdef *z) { free(z); }
