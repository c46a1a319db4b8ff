/*
 * trace_read.c - the trace reader (traces/FORMAT.md).
 *
 * Open reads the header and builds the chunk directory: from the index when
 * the trailer and index check out, otherwise by walking the chunk headers
 * from the start, which is also how a cut file is read (every whole chunk
 * before the cut). Payloads are read, checked and inflated one chunk at a
 * time, when the position enters them.
 *
 * The reader keeps the machine state at its position: a chunk's snapshot,
 * then every record applied in order by apply(). Each rule in apply() is
 * the inverse of where the model emits the event, so that the state here
 * equals the live model's state at the same cycle (tests/test_trace.c
 * checks this at random cycles).
 *
 * Nothing in the file is trusted: lengths are bounded before allocation,
 * every read is bounds checked, and an error names the chunk and byte.
 */
#define _POSIX_C_SOURCE 200809L  /* fileno, fstat */
#include <errno.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include "apicsim/trace.h"
#include "lapic.h"
#include "trace_fmt.h"
#include "export.h"  /* apic__trace_is_file */

typedef struct chunk {
  uint64_t offset, first, last;
  uint32_t clen, raw, records, crc;
} chunk;

typedef struct frame { uint16_t vector; uint8_t saved_run, entered; } frame;

typedef struct core {
  apic_lapic_state l;       /* derived fields (ppr, apr, ccr, x2apic) filled on demand */
  apic_core_state c;        /* run, if_flag, nmi_blocked, in_smm */
  frame *frames;            /* taken interrupts, innermost last */
  uint32_t depth, cap;
  uint8_t below;            /* snapshot: APIC__P_IDLE_BELOW* bits */
} core;

struct apic_trace {
  FILE *f;
  uint64_t size;
  char err[256];
  apic_trace_info info;
  chunk *chunks;
  uint32_t ci;              /* loaded chunk, or UINT32_MAX */
  uint32_t want;            /* chunk last asked for: where a failed load left off */
  int stale;                /* a failed load or record left the state half updated */
  uint8_t *raw;             /* its payload, inflated */
  size_t rawcap;
  uint8_t *zbuf;
  size_t zcap;
  apic__rd rd;              /* position in raw */
  uint32_t rec;             /* records consumed in the loaded chunk */
  uint64_t prev_cycle, prev_msg, now;
  core *cores;
  uint64_t *rte[APIC_MAX_IOAPICS];
  uint8_t *level[APIC_MAX_IOAPICS];
  char text[APIC__TRC_MAX_TEXT + 1];
};

static int fail(apic_trace *t, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(apic_trace *t, int err, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(t->err, sizeof t->err, fmt, ap);
  va_end(ap);
  return err;
}

const char *apic_trace_errmsg(const apic_trace *t) { return t ? t->err : "no trace"; }
/* 1 if path names the file t reads (a tool about to overwrite its input). */
int apic__trace_is_file(const apic_trace *t, const char *path) {
  struct stat a, b;
  if (!t->f || fstat(fileno(t->f), &a) != 0 || stat(path, &b) != 0) return 0;
  return a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

const apic_trace_info *apic_trace_info_get(const apic_trace *t) { return t ? &t->info : NULL; }
uint64_t apic_trace_now(const apic_trace *t) { return t ? t->now : 0; }

/* Reads exactly n bytes at off; 0 on success. */
static int read_at(apic_trace *t, uint64_t off, void *p, size_t n) {
  if (off > t->size || n > t->size - off) return -1;
  if (fseek(t->f, (long)off, SEEK_SET) != 0) return -1;
  return fread(p, 1, n, t->f) == n ? 0 : -1;
}

/* ---- open ---- */

static int read_header(apic_trace *t, uint64_t *end) {
  uint8_t fixed[APIC__TRC_HDR_FIXED];
  if (read_at(t, 0, fixed, sizeof fixed))
    return fail(t, APIC_E_FORMAT, "not an apicsim trace: %llu bytes, shorter than a header",
                (unsigned long long)t->size);
  if (memcmp(fixed, APIC__TRC_MAGIC, APIC__TRC_MAGIC_LEN))
    return fail(t, APIC_E_FORMAT, "not an apicsim trace: wrong magic at byte 0");
  apic__rd r = {fixed, sizeof fixed, APIC__TRC_MAGIC_LEN, 0};
  uint16_t version = apic__rd_u16(&r), flags = apic__rd_u16(&r);
  uint32_t blen = apic__rd_u32(&r);
  if (version != APIC_TRACE_VERSION)
    return fail(t, APIC_E_FORMAT, "trace format version %u at byte 8: this reader knows "
                "version %d", version, APIC_TRACE_VERSION);
  if (flags) return fail(t, APIC_E_FORMAT, "unknown header flags 0x%x at byte 10", flags);
  if (blen > APIC__TRC_MAX_BODY)
    return fail(t, APIC_E_CORRUPT, "header body length %u at byte 12 exceeds %u", blen,
                APIC__TRC_MAX_BODY);
  size_t total = APIC__TRC_HDR_FIXED + blen + 4;
  uint8_t *h = malloc(total);
  if (!h) return fail(t, APIC_E_NOMEM, "out of memory reading the header");
  if (read_at(t, 0, h, total)) {
    free(h);
    return fail(t, APIC_E_CORRUPT, "header cut short: %zu bytes expected, file has %llu",
                total, (unsigned long long)t->size);
  }
  apic__rd c = {h, total, total - 4, 0};
  uint32_t crc = apic__rd_u32(&c);
  if (crc != (uint32_t)crc32(0, h, (uInt)(total - 4))) {
    free(h);
    return fail(t, APIC_E_CORRUPT, "header checksum mismatch (bytes 0..%zu)", total - 1);
  }
  apic__rd b = {h + APIC__TRC_HDR_FIXED, blen, 0, 0};
  char why[200];
  apic_config_default(&t->info.config, 1);
  int rc = apic__hdr_get(&b, &t->info.config, t->info.name, sizeof t->info.name, why,
                         sizeof why);
  free(h);
  if (rc) return fail(t, APIC_E_CORRUPT, "%s", why);
  *end = total;
  return APIC_OK;
}

/* Parses a 40-byte chunk header; 0 ok, 1 cut (incomplete), negative error. */
static int chunk_header(apic_trace *t, uint64_t off, chunk *c) {
  uint8_t h[APIC__TRC_CHUNK_HDR];
  if (t->size - off < sizeof h) return 1;
  if (read_at(t, off, h, sizeof h)) return fail(t, APIC_E_IO, "read error at byte %llu",
                                                (unsigned long long)off);
  apic__rd r = {h, sizeof h, 4, 0};
  c->offset = off;
  c->clen = apic__rd_u32(&r);
  c->raw = apic__rd_u32(&r);
  c->records = apic__rd_u32(&r);
  c->first = apic__rd_u64(&r);
  c->last = apic__rd_u64(&r);
  c->crc = apic__rd_u32(&r);
  uint32_t hcrc = apic__rd_u32(&r);
  if (memcmp(h, APIC__TRC_CHUNK_MAGIC, 4))
    return fail(t, APIC_E_CORRUPT, "no chunk at byte %llu (wrong magic)",
                (unsigned long long)off);
  if (hcrc != (uint32_t)crc32(0, h, APIC__TRC_CHUNK_HDR - 4))
    return 1;  /* FORMAT.md "Reading rules": a header failing its crc is where the file was cut */
  if (c->clen > APIC__TRC_MAX_CLEN || c->raw > APIC__TRC_MAX_RAW || c->last < c->first ||
      c->records > c->raw)
    return fail(t, APIC_E_CORRUPT, "chunk at byte %llu: absurd lengths (%u compressed, "
                "%u raw, %u records)", (unsigned long long)off, c->clen, c->raw, c->records);
  if (t->size - off - sizeof h < c->clen) return 1;  /* payload cut off */
  return 0;
}

static int add_chunk(apic_trace *t, const chunk *c, uint32_t *cap) {
  if (t->info.chunks == *cap) {
    uint32_t n = *cap ? *cap * 2 : 16;
    chunk *v = realloc(t->chunks, n * sizeof *v);
    if (!v) return fail(t, APIC_E_NOMEM, "out of memory for the chunk directory");
    t->chunks = v;
    *cap = n;
  }
  if (t->info.chunks && c->first < t->chunks[t->info.chunks - 1].last)
    return fail(t, APIC_E_CORRUPT, "chunk at byte %llu starts at cycle %llu, before the "
                "previous chunk ends", (unsigned long long)c->offset,
                (unsigned long long)c->first);
  t->chunks[t->info.chunks++] = *c;
  t->info.records += c->records;
  return APIC_OK;
}

/* The index, if the trailer and index check out; 0 used, 1 not usable. */
static int load_index(apic_trace *t, uint64_t data_start, uint32_t *cap) {
  uint8_t tr[APIC__TRC_TRAILER];
  if (t->size < data_start + APIC__TRC_TRAILER ||
      read_at(t, t->size - APIC__TRC_TRAILER, tr, sizeof tr))
    return 1;
  if (memcmp(tr + 8, APIC__TRC_END_MAGIC, 8)) return 1;
  apic__rd r = {tr, sizeof tr, 0, 0};
  uint64_t ix = apic__rd_u64(&r);
  uint64_t ix_end = t->size - APIC__TRC_TRAILER;
  if (ix < data_start || ix + 12 > ix_end) return 1;
  size_t n = (size_t)(ix_end - ix);
  uint8_t *p = malloc(n);
  if (!p || read_at(t, ix, p, n)) { free(p); return 1; }
  apic__rd q = {p, n, 4, 0}, tail = {p, n, n - 4, 0};
  uint32_t count = apic__rd_u32(&q);
  int ok = !memcmp(p, APIC__TRC_INDEX_MAGIC, 4) &&
           n == 8 + (size_t)count * APIC__TRC_INDEX_ENTRY + 4 &&  /* magic, count, crc */
           (uint32_t)crc32(0, p, (uInt)(n - 4)) == apic__rd_u32(&tail);
  for (uint32_t i = 0; ok && i < count; i++) {
    uint64_t off = apic__rd_u64(&q), first = apic__rd_u64(&q), last = apic__rd_u64(&q);
    uint32_t recs = apic__rd_u32(&q);
    chunk c;
    ok = chunk_header(t, off, &c) == 0 && c.first == first && c.last == last &&
         c.records == recs && add_chunk(t, &c, cap) == APIC_OK;
  }
  free(p);
  if (!ok) {  /* fall back to walking the chunks */
    t->info.chunks = 0;
    t->info.records = 0;
    t->err[0] = 0;
    return 1;
  }
  return 0;
}

static int scan_chunks(apic_trace *t, uint64_t off, uint32_t *cap) {
  for (;;) {
    if (off == t->size) {  /* no index: the file was cut right after a chunk */
      t->info.cut = 1;
      t->info.cut_offset = off;
      break;
    }
    chunk c;
    int rc = chunk_header(t, off, &c);
    if (rc == 1) {  /* cut inside this chunk, or this is a damaged index */
      t->info.cut = 1;
      t->info.cut_offset = off;
      break;
    }
    if (rc < 0) {
      /* the bytes after the last chunk of a whole file are its index */
      if (!memcmp(t->err, "no chunk", 8) && t->info.chunks) {
        uint8_t m[4], tr[APIC__TRC_TRAILER];
        int at_index = read_at(t, off, m, 4) == 0 && !memcmp(m, APIC__TRC_INDEX_MAGIC, 4);
        if (!at_index && t->size >= sizeof tr && !read_at(t, t->size - sizeof tr, tr, sizeof tr) &&
            !memcmp(tr + 8, APIC__TRC_END_MAGIC, 8)) {  /* the trailer says the index is here */
          apic__rd r = {tr, sizeof tr, 0, 0};
          at_index = apic__rd_u64(&r) == off;
        }
        if (at_index) {
          t->err[0] = 0;
          snprintf(t->info.warning, sizeof t->info.warning,
                   "the index at byte %llu is damaged: chunks were found by walking the file",
                   (unsigned long long)off);
          break;
        }
      }
      return rc;
    }
    if ((rc = add_chunk(t, &c, cap))) return rc;
    off += APIC__TRC_CHUNK_HDR + c.clen;
  }
  if (t->info.cut)
    snprintf(t->info.warning, sizeof t->info.warning,
             "the file was cut off at byte %llu: %u whole chunks (%llu records) before it",
             (unsigned long long)t->info.cut_offset, t->info.chunks,
             (unsigned long long)t->info.records);
  return APIC_OK;
}

static int alloc_state(apic_trace *t) {
  const apic_config *cfg = &t->info.config;
  t->cores = calloc(cfg->ncpus, sizeof *t->cores);
  if (!t->cores) return fail(t, APIC_E_NOMEM, "out of memory for %u cores", cfg->ncpus);
  for (uint32_t i = 0; i < cfg->nioapics; i++) {
    t->rte[i] = calloc(cfg->ioapic_pins[i], sizeof *t->rte[i]);
    t->level[i] = calloc(cfg->ioapic_pins[i], 1);
    if (!t->rte[i] || !t->level[i]) return fail(t, APIC_E_NOMEM, "out of memory");
  }
  return APIC_OK;
}

int apic_trace_open(apic_trace **out, const char *path, char *why, size_t why_size) {
  if (why_size) why[0] = 0;
  if (!out || !path) {
    if (why_size) snprintf(why, why_size, "out and path must not be NULL");
    return APIC_E_ARG;
  }
  *out = NULL;
  apic_trace *t = calloc(1, sizeof *t);
  if (!t) {
    if (why_size) snprintf(why, why_size, "out of memory");
    return APIC_E_NOMEM;
  }
  t->ci = UINT32_MAX;
  int rc = APIC_OK;
  t->f = fopen(path, "rb");
  if (!t->f) rc = fail(t, APIC_E_IO, "cannot open %s: %s", path, strerror(errno));
  /* a directory opens but does not read; its "size" would be nonsense */
  else if (fgetc(t->f) == EOF && ferror(t->f))
    rc = fail(t, APIC_E_IO, "cannot read %s: %s", path, strerror(errno));
  if (!rc && (fseek(t->f, 0, SEEK_END) || (long)(t->size = (uint64_t)ftell(t->f)) < 0))
    rc = fail(t, APIC_E_IO, "cannot size %s", path);
  uint64_t data = 0;
  uint32_t cap = 0;
  if (!rc) rc = read_header(t, &data);
  if (!rc && load_index(t, data, &cap)) rc = scan_chunks(t, data, &cap);
  if (!rc && t->info.chunks == 0)
    rc = fail(t, APIC_E_CORRUPT, "no whole chunk in the file (%s)",
              t->info.cut ? "cut off before the first snapshot" : "empty");
  if (!rc) rc = alloc_state(t);
  if (!rc) {
    t->info.first_cycle = t->chunks[0].first;
    t->info.last_cycle = t->chunks[t->info.chunks - 1].last;
    rc = apic_trace_rewind(t);
  }
  if (rc) {
    if (why_size) snprintf(why, why_size, "%s: %s", path, t->err);
    apic_trace_close(t);
    return rc;
  }
  *out = t;
  return APIC_OK;
}

void apic_trace_close(apic_trace *t) {
  if (!t) return;
  if (t->f) fclose(t->f);
  if (t->cores)
    for (uint32_t i = 0; i < t->info.config.ncpus; i++) free(t->cores[i].frames);
  free(t->cores);
  for (uint32_t i = 0; i < APIC_MAX_IOAPICS; i++) {
    free(t->rte[i]);
    free(t->level[i]);
  }
  free(t->chunks);
  free(t->raw);
  free(t->zbuf);
  free(t);
}

int apic_trace_chunk(const apic_trace *t, uint32_t i, uint64_t *first, uint64_t *last,
                     uint32_t *records) {
  if (!t || i >= t->info.chunks) return APIC_E_ARG;
  if (first) *first = t->chunks[i].first;
  if (last) *last = t->chunks[i].last;
  if (records) *records = t->chunks[i].records;
  return APIC_OK;
}

/* ---- chunks and snapshots ---- */

static int push_frame(apic_trace *t, core *c, uint16_t vector, uint8_t saved, uint8_t entered) {
  if (c->depth == c->cap) {
    uint32_t n = c->cap ? c->cap * 2 : 4;
    if (n > 4096)
      return fail(t, APIC_E_CORRUPT, "core %u: handler nesting deeper than 4096",
                  (uint32_t)(c - t->cores));
    frame *f = realloc(c->frames, n * sizeof *f);
    if (!f) return fail(t, APIC_E_NOMEM, "out of memory");
    c->frames = f;
    c->cap = n;
  }
  c->frames[c->depth++] = (frame){vector, saved, entered};
  return APIC_OK;
}

static int read_snapshot(apic_trace *t, const chunk *ch) {
  apic__rd *r = &t->rd;
  const apic_config *cfg = &t->info.config;
  uint64_t cyc = apic__rd_uv(r);
  if (cyc != ch->first)
    return fail(t, APIC_E_CORRUPT, "chunk at byte %llu: snapshot cycle %llu, header says %llu",
                (unsigned long long)ch->offset, (unsigned long long)cyc,
                (unsigned long long)ch->first);
  for (uint32_t i = 0; i < cfg->ncpus && !r->bad; i++) {
    core *c = &t->cores[i];
    apic_lapic_state *l = &c->l;
    memset(l, 0, sizeof *l);
    uint32_t *r32[] = {&l->id, &l->tpr, &l->ldr, &l->dfr, &l->svr, &l->esr, &l->icr_lo,
                       &l->icr_hi, &l->timer_icr, &l->timer_dcr, &l->lvt_cmci, &l->lvt_timer,
                       &l->lvt_thermal, &l->lvt_perf, &l->lvt_lint0, &l->lvt_lint1,
                       &l->lvt_error};
    for (size_t k = 0; k < sizeof r32 / sizeof r32[0]; k++) {
      uint64_t v = apic__rd_uv(r);
      if (v > UINT32_MAX) r->bad = 1;
      *r32[k] = (uint32_t)v;
    }
    l->apic_base = apic__rd_uv(r);
    l->timer_next = apic__rd_uv(r);
    uint32_t *arr[3] = {l->irr, l->isr, l->tmr};
    for (int a = 0; a < 3; a++)
      for (int k = 0; k < 8; k++) {
        uint64_t v = apic__rd_uv(r);
        if (v > UINT32_MAX) r->bad = 1;
        arr[a][k] = (uint32_t)v;
      }
    uint64_t p = apic__rd_uv(r);
    l->nmi_pending = (p & APIC__P_NMI) != 0;
    l->smi_pending = (p & APIC__P_SMI) != 0;
    l->init_pending = (p & APIC__P_INIT) != 0;
    l->sipi_pending = (p & APIC__P_SIPI) != 0;
    l->extint_pending = (p & APIC__P_EXTINT) != 0;
    l->wait_sipi = (p & APIC__P_WAIT_SIPI) != 0;
    c->below = (uint8_t)(p & (APIC__P_IDLE_BELOW | APIC__P_IDLE_BELOW_UNLISTED));
    /* fields narrower than their varint: a value above the field's range is
       damage, which cut to the field's width could pass for a valid state */
    static const struct { const char *name; uint64_t max; } lim[] = {
      {"sipi_vector", UINT8_MAX}, {"ds_until", UINT64_MAX}, {"sends_pending", UINT32_MAX},
      {"run", APIC_CORE_WAIT_SIPI}, {"if_flag", 1}, {"nmi_blocked", 1},
      {"in_smm", APIC_SMM_AFTER_IRET}, {"nest", APIC__TRC_MAX_NEST}};
    uint64_t f[sizeof lim / sizeof lim[0]];
    for (size_t k = 0; k < sizeof lim / sizeof lim[0]; k++) {
      f[k] = apic__rd_uv(r);
      if (f[k] > lim[k].max)
        return fail(t, APIC_E_CORRUPT, "chunk %u at byte %llu: snapshot of core %u: %s %llu "
                    "is above %llu", (uint32_t)(ch - t->chunks), (unsigned long long)ch->offset,
                    i, lim[k].name, (unsigned long long)f[k], (unsigned long long)lim[k].max);
    }
    l->sipi_vector = (uint8_t)f[0];
    l->ds_until = f[1];
    l->sends_pending = (uint32_t)f[2];
    memset(&c->c, 0, sizeof c->c);
    c->c.run = (uint8_t)f[3];
    c->c.if_flag = (uint8_t)f[4];
    c->c.nmi_blocked = (uint8_t)f[5];
    c->c.in_smm = (uint8_t)f[6];
    uint64_t nest = f[7];
    c->depth = 0;
    for (uint64_t k = 0; k < nest && !r->bad; k++) {
      uint64_t v = apic__rd_uv(r);
      if (v > APIC_VECTOR_SMI)
        return fail(t, APIC_E_CORRUPT, "chunk %u at byte %llu: snapshot of core %u: handler "
                    "vector %llu is above %u", (uint32_t)(ch - t->chunks),
                    (unsigned long long)ch->offset, i, (unsigned long long)v, APIC_VECTOR_SMI);
      int rc = push_frame(t, c, (uint16_t)v, k == 0 && (c->below & APIC__P_IDLE_BELOW) ?
                          APIC_CORE_DONE : APIC_CORE_RUNNING, 1);
      if (rc) return rc;
    }
  }
  for (uint32_t io = 0; io < cfg->nioapics && !r->bad; io++)
    for (uint32_t pin = 0; pin < cfg->ioapic_pins[io]; pin++) {
      t->rte[io][pin] = apic__rd_uv(r);
      uint64_t level = apic__rd_uv(r);
      if (level > 1)
        return fail(t, APIC_E_CORRUPT, "chunk %u at byte %llu: snapshot of I/O APIC %u pin %u: "
                    "level %llu is above 1", (uint32_t)(ch - t->chunks),
                    (unsigned long long)ch->offset, io, pin, (unsigned long long)level);
      t->level[io][pin] = (uint8_t)level;
    }
  if (r->bad)
    return fail(t, APIC_E_CORRUPT, "chunk at byte %llu: snapshot does not decode",
                (unsigned long long)ch->offset);
  t->prev_cycle = t->now = ch->first;
  t->prev_msg = 0;
  return APIC_OK;
}

static int load_chunk(apic_trace *t, uint32_t i) {
  const chunk *c = &t->chunks[i];
  t->want = i;
  if (t->zcap < c->clen) {
    uint8_t *p = realloc(t->zbuf, c->clen);
    if (!p) return fail(t, APIC_E_NOMEM, "out of memory for a %u-byte chunk", c->clen);
    t->zbuf = p;
    t->zcap = c->clen;
  }
  if (t->rawcap < c->raw) {
    uint8_t *p = realloc(t->raw, c->raw);
    if (!p) return fail(t, APIC_E_NOMEM, "out of memory for a %u-byte chunk", c->raw);
    t->raw = p;
    t->rawcap = c->raw;
  }
  t->ci = UINT32_MAX;
  t->stale = 1;  /* until this chunk's snapshot is whole */
  if (read_at(t, c->offset + APIC__TRC_CHUNK_HDR, t->zbuf, c->clen))
    return fail(t, APIC_E_IO, "read error in chunk %u at byte %llu", i,
                (unsigned long long)c->offset);
  if ((uint32_t)crc32(0, t->zbuf, c->clen) != c->crc)
    return fail(t, APIC_E_CORRUPT, "chunk %u at byte %llu: payload checksum mismatch", i,
                (unsigned long long)c->offset);
  uLongf n = c->raw;
  if (uncompress(t->raw, &n, t->zbuf, c->clen) != Z_OK || n != c->raw)
    return fail(t, APIC_E_CORRUPT, "chunk %u at byte %llu: payload does not inflate to %u "
                "bytes", i, (unsigned long long)c->offset, c->raw);
  t->rd = (apic__rd){t->raw, c->raw, 0, 0};
  t->rec = 0;
  int rc = read_snapshot(t, c);
  if (rc) return rc;
  t->ci = i;
  t->stale = 0;
  return APIC_OK;
}

/* ---- records ---- */

static uint32_t *reg_field(apic_lapic_state *l, uint32_t off) {
  switch (off) {
  case APIC_REG_ID: return &l->id;
  case APIC_REG_LDR: return &l->ldr;
  case APIC_REG_DFR: return &l->dfr;
  case APIC_REG_SVR: return &l->svr;
  case APIC_REG_ESR: return &l->esr;
  case APIC_REG_ICR_LO: return &l->icr_lo;
  case APIC_REG_ICR_HI: return &l->icr_hi;
  case APIC_REG_LVT_CMCI: return &l->lvt_cmci;
  case APIC_REG_LVT_TIMER: return &l->lvt_timer;
  case APIC_REG_LVT_THERMAL: return &l->lvt_thermal;
  case APIC_REG_LVT_PERF: return &l->lvt_perf;
  case APIC_REG_LVT_LINT0: return &l->lvt_lint0;
  case APIC_REG_LVT_LINT1: return &l->lvt_lint1;
  case APIC_REG_LVT_ERROR: return &l->lvt_error;
  case APIC_REG_TIMER_ICR: return &l->timer_icr;
  case APIC_REG_TIMER_DCR: return &l->timer_dcr;
  default: return NULL;
  }
}

static void vset(uint32_t r[8], uint8_t v) { r[v >> 5] |= 1u << (v & 31); }
static void vclr(uint32_t r[8], uint8_t v) { r[v >> 5] &= ~(1u << (v & 31)); }

/* A taken interrupt: the core runs its handler (not in embedded mode). */
static int taken(apic_trace *t, core *c, uint16_t vector) {
  if (c->c.run == APIC_CORE_NOPROG) return APIC_OK;
  uint8_t saved = c->c.run == APIC_CORE_DONE ? APIC_CORE_DONE : APIC_CORE_RUNNING;
  c->c.run = APIC_CORE_RUNNING;
  return push_frame(t, c, vector, saved, 0);
}

static int apply(apic_trace *t, const apic_event *ev) {
  if (ev->flags & APIC_EVF_IOAPIC) {  /* I/O APIC events carry the whole entry in x */
    uint32_t io = ev->src, pin = ev->a;
    if (io >= t->info.config.nioapics || pin >= t->info.config.ioapic_pins[io]) return APIC_OK;
    if (ev->kind == APIC_EV_PIN) t->level[io][pin] = ev->b != 0;
    if (ev->kind == APIC_EV_PIN || ev->kind == APIC_EV_RTE_WRITE ||
        ev->kind == APIC_EV_REMOTE_IRR_SET || ev->kind == APIC_EV_REMOTE_IRR_CLR)
      t->rte[io][pin] = ev->x;
    return APIC_OK;
  }
  if (ev->kind == APIC_EV_MSG_SEND) {  /* delivery status of the sending core */
    if (ev->src < t->info.config.ncpus && ev->b == APIC_MSG_INTERRUPT) {
      apic_lapic_state *l = &t->cores[ev->src].l;
      if (ev->x) { if (ev->x > l->ds_until) l->ds_until = ev->x; }
      else l->sends_pending++;
    }
    return APIC_OK;
  }
  if (ev->kind == APIC_EV_MSG_DONE) {
    if (ev->cpu < t->info.config.ncpus && t->info.config.bus == APIC_BUS_P6) {
      apic_lapic_state *l = &t->cores[ev->cpu].l;
      if (l->sends_pending) l->sends_pending--;
    }
    return APIC_OK;
  }
  if (ev->cpu >= t->info.config.ncpus) return APIC_OK;
  core *c = &t->cores[ev->cpu];
  apic_lapic_state *l = &c->l;
  uint8_t v = ev->vector;
  uint32_t *field;
  switch (ev->kind) {
  case APIC_EV_IRR_SET:
    vset(l->irr, v);
    if (ev->a) vset(l->tmr, v); else vclr(l->tmr, v);
    break;
  case APIC_EV_IRR_COALESCED:  /* a merged level interrupt sets TMR (SDM-CHOICES 31) */
    if (ev->a) vset(l->tmr, v);
    break;
  case APIC_EV_ACCEPT:
    vclr(l->irr, v);
    vset(l->isr, v);
    return taken(t, c, v);
  case APIC_EV_EOI: vclr(l->isr, v); break;
  case APIC_EV_TPR: l->tpr = ev->a; break;
  case APIC_EV_REG:
    if ((field = reg_field(l, ev->a))) *field = ev->b;
    break;
  case APIC_EV_RESET:
    memset(l->irr, 0, sizeof l->irr);
    memset(l->isr, 0, sizeof l->isr);
    memset(l->tmr, 0, sizeof l->tmr);
    l->tpr = 0;
    l->nmi_pending = l->smi_pending = l->init_pending = l->sipi_pending = 0;
    l->extint_pending = 0;
    break;
  case APIC_EV_APIC_MODE: l->apic_base = ev->x; break;
  case APIC_EV_TIMER_ARM: l->timer_next = ev->x; break;
  case APIC_EV_PENDING:
    switch (ev->a) {
    case APIC_INTR_NMI: l->nmi_pending = 1; break;
    case APIC_INTR_SMI: l->smi_pending = 1; break;
    case APIC_INTR_INIT: l->init_pending = 1; break;
    case APIC_INTR_SIPI: l->sipi_pending = 1; l->sipi_vector = v; break;
    case APIC_INTR_EXTINT: l->extint_pending = 1; break;
    default: break;
    }
    break;
  case APIC_EV_WITHDRAWN:
    if (ev->a == APIC_INTR_EXTINT) l->extint_pending = 0;
    break;
  case APIC_EV_NMI:
    l->nmi_pending = 0;
    c->c.nmi_blocked = 1;
    return taken(t, c, 2);
  case APIC_EV_SMI:
    l->smi_pending = 0;
    if (ev->a) c->c.in_smm = APIC_SMM_NMI_BLOCKED;
    return ev->a ? taken(t, c, APIC_VECTOR_SMI) : APIC_OK;
  case APIC_EV_EXTINT:
    l->extint_pending = 0;
    return taken(t, c, v);
  case APIC_EV_INIT:
    l->init_pending = 0;
    l->wait_sipi = 1;
    c->c.nmi_blocked = c->c.in_smm = 0;
    c->depth = 0;
    if (c->c.run != APIC_CORE_NOPROG) c->c.run = APIC_CORE_WAIT_SIPI;
    break;
  case APIC_EV_SIPI:
    l->sipi_pending = 0;
    l->wait_sipi = 0;
    if (c->c.run != APIC_CORE_NOPROG) c->c.run = ev->a ? APIC_CORE_RUNNING : APIC_CORE_DONE;
    break;
  case APIC_EV_HANDLER_ENTER: {
    uint32_t k = c->depth;
    while (k-- > 0 && c->frames[k].entered) {}
    if (k < c->depth) { c->frames[k].entered = 1; break; }
    /* taken before the snapshot, entered after it: the snapshot lists only
       entered handlers, so the frame is new to the reader */
    return push_frame(t, c, ev->b == APIC_INTR_SMI ? APIC_VECTOR_SMI : v,
                      ev->a == 0 && (c->below & APIC__P_IDLE_BELOW_UNLISTED) ? APIC_CORE_DONE :
                      APIC_CORE_RUNNING, 1);
  }
  case APIC_EV_HANDLER_EXIT:
    if (ev->b == APIC_INTR_SMI) {  /* as the engine's iret (cpu.c): RSM */
      c->c.in_smm = APIC_SMM_OFF;
      c->c.nmi_blocked = ev->x != 0;
    } else {
      c->c.nmi_blocked = 0;
      if (c->c.in_smm) c->c.in_smm = APIC_SMM_AFTER_IRET;
    }
    if (c->depth) {
      uint8_t saved = c->frames[--c->depth].saved_run;
      c->c.run = saved == APIC_CORE_DONE ? APIC_CORE_DONE : APIC_CORE_RUNNING;
    }
    break;
  case APIC_EV_IF_CHANGE: c->c.if_flag = ev->a != 0; break;
  case APIC_EV_HALT: c->c.run = APIC_CORE_HALTED; break;
  case APIC_EV_WAKE: c->c.run = APIC_CORE_RUNNING; break;
  case APIC_EV_PROGRAM_START: c->c.run = APIC_CORE_RUNNING; break;
  case APIC_EV_PROGRAM_DONE: c->c.run = APIC_CORE_DONE; break;
  default: break;
  }
  return APIC_OK;
}

/* Decodes the record at the position without consuming it. */
static int peek(apic_trace *t, apic_event *ev, apic__rd *after, uint64_t *pc, uint64_t *pm) {
  *after = t->rd;
  *pc = t->prev_cycle;
  *pm = t->prev_msg;
  const uint8_t *text;
  size_t n;
  if (apic__rec_get(after, ev, pc, pm, &text, &n))
    return fail(t, APIC_E_CORRUPT, "chunk %u at byte %llu: record %u does not decode "
                "(payload byte %zu)", t->ci, (unsigned long long)t->chunks[t->ci].offset,
                t->rec, t->rd.pos);
  if (ev->cycle < t->chunks[t->ci].first || ev->cycle > t->chunks[t->ci].last)
    return fail(t, APIC_E_CORRUPT, "chunk %u: record %u at cycle %llu lies outside the "
                "chunk's cycles", t->ci, t->rec, (unsigned long long)ev->cycle);
  if (text) {
    memcpy(t->text, text, n);
    t->text[n] = 0;
    ev->text = t->text;
  }
  return APIC_OK;
}

/* Makes sure the position has a record to read; APIC_E_END if none. */
static int ensure_record(apic_trace *t) {
  while (t->ci == UINT32_MAX || t->rec == t->chunks[t->ci].records) {
    /* after a chunk failed to load, that chunk again (and its error), not
       the first: the records before it were read already */
    uint32_t next = t->ci == UINT32_MAX ? t->want : t->ci + 1;
    if (next >= t->info.chunks) return APIC_E_END;
    int rc = load_chunk(t, next);
    if (rc) return rc;
  }
  return APIC_OK;
}

static int consume(apic_trace *t, apic_event *ev) {
  apic__rd after;
  uint64_t pc, pm;
  int rc = peek(t, ev, &after, &pc, &pm);
  if (rc) return rc;
  t->rd = after;
  t->prev_cycle = pc;
  t->prev_msg = pm;
  t->rec++;
  t->now = ev->cycle;
  if ((rc = apply(t, ev)) != APIC_OK) t->stale = 1;
  if (rc == APIC_E_CORRUPT) {  /* a record that decodes but cannot be */
    char what[sizeof t->err];
    memcpy(what, t->err, sizeof what);
    return fail(t, rc, "chunk %u at byte %llu: record %u: %s", t->ci,
                (unsigned long long)t->chunks[t->ci].offset, t->rec - 1, what);
  }
  return rc;
}

int apic_trace_next(apic_trace *t, apic_event *ev) {
  if (!t || !ev) return APIC_E_ARG;
  int rc = ensure_record(t);
  return rc ? rc : consume(t, ev);
}

int apic_trace_rewind(apic_trace *t) {
  if (!t) return APIC_E_ARG;
  return load_chunk(t, 0);
}

int apic_trace_seek(apic_trace *t, uint64_t cycle) {
  if (!t) return APIC_E_ARG;
  /* the last chunk whose snapshot is at or before the cycle */
  uint32_t lo = 0, hi = t->info.chunks;
  while (hi - lo > 1) {
    uint32_t mid = lo + (hi - lo) / 2;
    if (t->chunks[mid].first <= cycle) lo = mid; else hi = mid;
  }
  while (lo > 0 && t->chunks[lo].first == cycle) lo--;  /* records at `cycle` may start earlier */
  /* A chunk that ends by the cycle need not be replayed: the next one's
     snapshot is the state after it (unless that chunk cannot be read). */
  int rc = lo + 1 < t->info.chunks && t->chunks[lo].last <= cycle ? load_chunk(t, lo + 1) : -1;
  if (rc && (rc = load_chunk(t, lo))) return rc;
  for (;;) {
    rc = ensure_record(t);
    if (rc == APIC_E_END) break;
    if (rc) return rc;
    apic_event ev;
    apic__rd after;
    uint64_t pc, pm;
    if ((rc = peek(t, &ev, &after, &pc, &pm))) return rc;
    if (ev.cycle > cycle) break;
    if ((rc = consume(t, &ev))) return rc;
  }
  if (cycle > t->now || t->ci > lo) t->now = cycle;  /* a later snapshot is still `cycle` */
  return APIC_OK;
}

/* ---- state at the position ---- */

/* After a failed read the state is a mix of two positions: none is given
   out until a seek or rewind succeeds. */
static int check_state(apic_trace *t) {
  return t->stale ? fail(t, APIC_E_STATE, "no machine state after a read error: seek or rewind "
                         "first") : APIC_OK;
}

int apic_trace_lapic_state(apic_trace *t, uint32_t cpu, apic_lapic_state *out) {
  if (!t || !out) return APIC_E_ARG;
  if (check_state(t)) return APIC_E_STATE;
  if (cpu >= t->info.config.ncpus)
    return fail(t, APIC_E_CPU, "cpu %u out of range (trace has %u cores)", cpu,
                t->info.config.ncpus);
  *out = t->cores[cpu].l;
  const apic_config *cfg = &t->info.config;
  out->version = cfg->model == APIC_MODEL_P6 ? APIC__VER_P6 : APIC__VER_XAPIC;
  out->ppr = apic__prio_ppr(out->tpr, out->isr);
  out->apr = apic__prio_apr(out->tpr, out->isr, out->irr);
  out->x2apic = (out->apic_base & APIC_BASE_EXTD) != 0;
  out->timer_ccr = apic__timer_ccr(out->timer_next, out->timer_icr, out->timer_dcr,
                                   out->lvt_timer, cfg->timing.timer_div, t->now);
  if (out->sends_pending || t->now < out->ds_until) out->icr_lo |= APIC_ICR_DS;
  return APIC_OK;
}

int apic_trace_core_state(apic_trace *t, uint32_t cpu, apic_core_state *out) {
  if (!t || !out) return APIC_E_ARG;
  if (check_state(t)) return APIC_E_STATE;
  if (cpu >= t->info.config.ncpus)
    return fail(t, APIC_E_CPU, "cpu %u out of range (trace has %u cores)", cpu,
                t->info.config.ncpus);
  const core *c = &t->cores[cpu];
  *out = c->c;
  out->nest = 0;
  memset(out->vectors, 0, sizeof out->vectors);
  for (uint32_t k = 0; k < c->depth; k++) {
    if (!c->frames[k].entered) continue;
    if (out->nest < APIC_CORE_MAX_NEST) out->vectors[out->nest] = c->frames[k].vector;
    out->nest++;
  }
  return APIC_OK;
}

int apic_trace_ioapic_pin(apic_trace *t, uint32_t io, uint32_t pin, uint64_t *rte, int *level) {
  if (!t) return APIC_E_ARG;
  if (check_state(t)) return APIC_E_STATE;
  if (io >= t->info.config.nioapics || pin >= t->info.config.ioapic_pins[io])
    return fail(t, APIC_E_PIN, "I/O APIC %u pin %u not in the trace", io, pin);
  if (rte) *rte = t->rte[io][pin];
  if (level) *level = t->level[io][pin];
  return APIC_OK;
}
