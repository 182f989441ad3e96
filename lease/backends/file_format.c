/*
 * The file authority's table, as bytes: header and record codecs and a
 * parser over a buffer (no I/O, no clock), shared by the backend, the
 * operator's check and repair, and the fuzz target.
 *
 * Invariants the parser enforces, so that nothing downstream guesses:
 *   - the header's magic, checksum, version (1 or 2), record size and, when
 *     asked, boot-time namespace are right;
 *   - the size is the header plus whole entries (or, only when the caller
 *     asks, plus a torn tail it is told about);
 *   - every entry has a usable copy, or is empty; a copy failing its
 *     checksum is accepted only when its sibling is valid (a torn write);
 *   - two valid copies of one entry name the same lease.
 * The trick, as in the backend: the copy holding the last fsync'd token is
 * never the one the next write goes to (entry_resolve's target), so a torn
 * write can only damage a copy whose token was never handed out.
 */
#include "file_format.h"

#include "crc32c.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <tenure/error.h>

/* slot field offsets */
#define O_SEQ 0
#define O_TOKEN 8
#define O_EXPIRY 16
#define O_FLAGS 24
#define O_BOOTID 32
#define O_NAME 72
#define O_HOLDER 136
#define O_CRC 252

/* header field offsets */
#define H_MAGIC 0
#define H_VERSION 8
#define H_SLOTSIZE 12
#define H_TIMENS 16
#define H_TOKENBASE 24 /* version 2 */
#define H_CRC 252

/* Names and holders as lease.h defines them; the backend also checks them
 * with tn__lease_name_valid, this copy keeps the parser free of lease.c. */
static int name_ok(const char *s) {
  size_t n = strlen(s);
  return n >= 1 && n <= TN_LEASE_NAME_MAX &&
         strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                   "0123456789._-") == n;
}

static int holder_ok(const char *s) {
  size_t n = 0;
  if (*s == '\0')
    return 0;
  for (; s[n]; n++) {
    unsigned char c = (unsigned char)s[n];
    if (c < 0x20 || c > 0x7e || c == '"' || c == '\\')
      return 0;
  }
  return n <= TN_HOLDER_MAX;
}

static void put_u32(unsigned char *p, uint32_t v) {
  int i;
  for (i = 0; i < 4; i++)
    p[i] = (unsigned char)(v >> (8 * i));
}
static void put_u64(unsigned char *p, uint64_t v) {
  int i;
  for (i = 0; i < 8; i++)
    p[i] = (unsigned char)(v >> (8 * i));
}
static uint32_t get_u32(const unsigned char *p) {
  uint32_t v = 0;
  int i;
  for (i = 3; i >= 0; i--)
    v = (v << 8) | p[i];
  return v;
}
static uint64_t get_u64(const unsigned char *p) {
  uint64_t v = 0;
  int i;
  for (i = 7; i >= 0; i--)
    v = (v << 8) | p[i];
  return v;
}

static int all_zero(const unsigned char *p, size_t n) {
  size_t i;
  for (i = 0; i < n; i++)
    if (p[i])
      return 0;
  return 1;
}

/* Copy a NUL-terminated string field of width w into dst (cap bytes);
 * 0 if not terminated within the field or too long for dst. */
static int get_str(char *dst, size_t cap, const unsigned char *src,
                   size_t w) {
  size_t n = strnlen((const char *)src, w);
  if (n == w || n >= cap)
    return 0;
  memcpy(dst, src, n);
  dst[n] = '\0';
  return 1;
}

const char *tn__lf_header_decode(const unsigned char *h, tn_nanos timens,
                                 int check_timens, tn__lf_header *out) {
  uint32_t version;
  memset(out, 0, sizeof *out);
  if (memcmp(h + H_MAGIC, TN__LF_MAGIC, 8) != 0)
    return "not a tenure lease file (bad magic)";
  if (tn__crc32c(0, h, H_CRC) != get_u32(h + H_CRC))
    return "header checksum mismatch";
  version = get_u32(h + H_VERSION);
  if (version != 1 && version != 2)
    return "unsupported lease file version";
  if (get_u32(h + H_SLOTSIZE) != TN__LF_SLOT_SIZE)
    return "unexpected record size";
  out->version = version;
  out->timens = (tn_nanos)get_u64(h + H_TIMENS);
  if (version >= 2) {
    out->token_base = get_u64(h + H_TOKENBASE);
    /* room for 2^32 terms of every lease above the base */
    if (out->token_base > UINT64_MAX / 2)
      return "token base out of range";
    if (!all_zero(h + H_TOKENBASE + 8, H_CRC - H_TOKENBASE - 8))
      return "unknown header fields";
  } else if (!all_zero(h + H_TOKENBASE, H_CRC - H_TOKENBASE)) {
    return "unknown header fields";
  }
  if (check_timens && out->timens != timens)
    return "created in a different boot-time namespace (container): its "
           "expiry times would not be comparable with this process's clock";
  return NULL;
}

void tn__lf_header_encode(const tn__lf_header *h, unsigned char *raw) {
  memset(raw, 0, TN__LF_HEADER_SIZE);
  memcpy(raw + H_MAGIC, TN__LF_MAGIC, 8);
  put_u32(raw + H_VERSION, TN__LF_VERSION);
  put_u32(raw + H_SLOTSIZE, TN__LF_SLOT_SIZE);
  put_u64(raw + H_TIMENS, (uint64_t)h->timens);
  put_u64(raw + H_TOKENBASE, h->token_base);
  put_u32(raw + H_CRC, tn__crc32c(0, raw, H_CRC));
}

int tn__lf_slot_decode(const unsigned char *raw, tn__lf_slot *s) {
  memset(s, 0, sizeof *s);
  if (all_zero(raw, TN__LF_SLOT_SIZE)) {
    s->state = TN__LF_SLOT_EMPTY;
    return s->state;
  }
  s->state = TN__LF_SLOT_BAD;
  if (tn__crc32c(0, raw, O_CRC) != get_u32(raw + O_CRC))
    return s->state;
  s->seq = get_u64(raw + O_SEQ);
  s->token = get_u64(raw + O_TOKEN);
  s->expiry = (tn_nanos)get_u64(raw + O_EXPIRY);
  s->flags = get_u32(raw + O_FLAGS);
  if (!get_str(s->boot_id, sizeof s->boot_id, raw + O_BOOTID, 40) ||
      !get_str(s->name, sizeof s->name, raw + O_NAME, 64) ||
      !get_str(s->holder, sizeof s->holder, raw + O_HOLDER, 64))
    return s->state;
  if (!name_ok(s->name) || s->seq == 0 || s->token == 0 ||
      s->token > UINT64_MAX / 2 ||
      (s->flags & ~(TN__LF_FLAG_SYNCED | TN__LF_FLAG_HELD)) != 0 ||
      ((s->flags & TN__LF_FLAG_HELD) && !holder_ok(s->holder)))
    return s->state;
  /* canonical: padding and the bytes after each string are zero, so that
   * one record has one encoding (what it says is all it holds) */
  {
    unsigned char again[TN__LF_SLOT_SIZE];
    tn__lf_slot_encode(s, again);
    if (memcmp(again, raw, TN__LF_SLOT_SIZE) != 0)
      return s->state;
  }
  s->state = TN__LF_SLOT_VALID;
  return s->state;
}

void tn__lf_slot_encode(const tn__lf_slot *s, unsigned char *raw) {
  memset(raw, 0, TN__LF_SLOT_SIZE);
  put_u64(raw + O_SEQ, s->seq);
  put_u64(raw + O_TOKEN, s->token);
  put_u64(raw + O_EXPIRY, (uint64_t)s->expiry);
  put_u32(raw + O_FLAGS, s->flags);
  memcpy(raw + O_BOOTID, s->boot_id, strnlen(s->boot_id, 36));
  memcpy(raw + O_NAME, s->name, strnlen(s->name, TN_LEASE_NAME_MAX));
  memcpy(raw + O_HOLDER, s->holder, strnlen(s->holder, TN_HOLDER_MAX));
  put_u32(raw + O_CRC, tn__crc32c(0, raw, O_CRC));
}

int tn__lf_entry_resolve(tn__lf_entry *e) {
  int i, synced = -1;
  e->cur = -1;
  e->token = 0;
  for (i = 0; i < 2; i++) {
    if (e->s[i].state != TN__LF_SLOT_VALID)
      continue;
    if (e->cur < 0 || e->s[i].seq > e->s[e->cur].seq)
      e->cur = i;
    if ((e->s[i].flags & TN__LF_FLAG_SYNCED) &&
        (synced < 0 || e->s[i].seq > e->s[synced].seq))
      synced = i;
    if (e->s[i].token > e->token)
      e->token = e->s[i].token;
  }
  if (e->cur < 0 && (e->s[0].state == TN__LF_SLOT_BAD ||
                     e->s[1].state == TN__LF_SLOT_BAD))
    return -1;
  if (e->cur >= 0 && e->s[0].state == TN__LF_SLOT_VALID &&
      e->s[1].state == TN__LF_SLOT_VALID &&
      strcmp(e->s[0].name, e->s[1].name) != 0)
    return -1;
  /* never overwrite the newest copy whose token was fsync'd */
  if (synced >= 0)
    e->target = 1 - synced;
  else if (e->cur >= 0)
    e->target = 1 - e->cur;
  else
    e->target = 0;
  return 0;
}

uint64_t tn__lf_next_token(const tn__lf_header *h, const tn__lf_entry *e) {
  uint64_t t = e ? e->token : 0;
  return (t > h->token_base ? t : h->token_base) + 1;
}

static int refuse(char *why, size_t whylen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));


static int refuse(char *why, size_t whylen, const char *fmt, ...) {
  va_list ap;
  if (why && whylen) {
    va_start(ap, fmt);
    vsnprintf(why, whylen, fmt, ap);
    va_end(ap);
  }
  return TN_ECORRUPT;
}

int tn__lf_parse(const unsigned char *buf, size_t len, tn_nanos timens,
                 int check_timens, int allow_torn, tn__lf_table *out,
                 char *why, size_t whylen) {
  const char *bad;
  size_t count, i, j, torn;
  tn__lf_entry *e;
  memset(out, 0, sizeof *out);
  if (why && whylen)
    why[0] = '\0';
  if (len < TN__LF_HEADER_SIZE)
    return refuse(why, whylen,
                  "truncated (%zu bytes, the header alone is %d)", len,
                  TN__LF_HEADER_SIZE);
  bad = tn__lf_header_decode(buf, timens, check_timens, &out->hdr);
  if (bad)
    return refuse(why, whylen, "%s", bad);
  torn = (len - TN__LF_HEADER_SIZE) % TN__LF_ENTRY_SIZE;
  if (torn && !allow_torn)
    return refuse(why, whylen,
                  "truncated or extended (%zu bytes is not a whole number "
                  "of %d-byte entries: a torn tail of %zu bytes; `tenurectl "
                  "lease check` tells more)",
                  len, TN__LF_ENTRY_SIZE, torn);
  count = (len - TN__LF_HEADER_SIZE) / TN__LF_ENTRY_SIZE;
  if (count > TN__LF_MAX_ENTRIES)
    return refuse(why, whylen, "%zu entries, more than %d", count,
                  TN__LF_MAX_ENTRIES);
  e = calloc(count ? count : 1, sizeof *e);
  if (e == NULL)
    return TN_ENOMEM;
  for (i = 0; i < count; i++) {
    const unsigned char *raw =
        buf + TN__LF_HEADER_SIZE + i * TN__LF_ENTRY_SIZE;
    tn__lf_slot_decode(raw, &e[i].s[0]);
    tn__lf_slot_decode(raw + TN__LF_SLOT_SIZE, &e[i].s[1]);
    if (tn__lf_entry_resolve(&e[i]) != 0) {
      free(e);
      memset(out, 0, sizeof *out);
      return refuse(why, whylen,
                    "entry %zu: both copies of the record fail their "
                    "checksum or disagree",
                    i);
    }
    out->damaged += (e[i].s[0].state == TN__LF_SLOT_BAD) +
                    (e[i].s[1].state == TN__LF_SLOT_BAD);
  }
  /* one entry per name: a second one would fork the token sequence */
  for (i = 0; i < count; i++) {
    if (e[i].cur < 0)
      continue;
    for (j = i + 1; j < count; j++)
      if (e[j].cur >= 0 &&
          strcmp(e[i].s[e[i].cur].name, e[j].s[e[j].cur].name) == 0) {
        free(e);
        memset(out, 0, sizeof *out);
        return refuse(why, whylen, "entries %zu and %zu name the same lease",
                      i, j);
      }
  }
  out->entries = e;
  out->count = count;
  out->torn_bytes = torn;
  return 0;
}

void tn__lf_table_free(tn__lf_table *t) {
  free(t->entries);
  t->entries = NULL;
  t->count = 0;
}
