/*
 * deflate.h - the trace writer's own deflate encoder (private).
 */
#ifndef APICSIM_DEFLATE_H
#define APICSIM_DEFLATE_H

#include <stddef.h>
#include <stdint.h>

/*
 * The trace writer's deflate encoder: a zlib stream (RFC 1950) that
 * any inflate reads, some 4 times cheaper than zlib's deflate on records.
 * The state (some 400 KiB) is kept between chunks; the output is the same
 * for the same input whatever the state held before.
 */
typedef struct apic__zdef apic__zdef;
apic__zdef *apic__zdef_new(void);  /* NULL when out of memory */
void apic__zdef_free(apic__zdef *z);
/* Bytes that apic__zdef_compress may use for n input bytes. */
size_t apic__zdef_bound(size_t n);
/* Compresses src[0..n) into out (apic__zdef_bound(n) bytes); returns the size. */
size_t apic__zdef_compress(apic__zdef *z, uint8_t *out, const uint8_t *src, size_t n);
/* Huffman code lengths for freq[0..n) (n <= 288), none above maxbits, at
   least two codes (a lone code would send no bit): a complete code. */
void apic__huff_lengths(const uint32_t *freq, unsigned n, unsigned maxbits, uint8_t *len);

#endif
