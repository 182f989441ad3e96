/*
 * The control protocol's pure half: classifying request lines, framing
 * replies, parsing reply headers (contracts in ctl_proto.h).
 *
 * Why separate: everything that reads bytes from a peer is a parser, and a
 * parser that does no I/O can be fuzzed for hours and tested exhaustively at
 * the edges. ctl.c only moves bytes and calls these.
 *
 * Invariants: every function accepts any (pointer, length) and reads only
 * inside it; what the server writes always parses back with
 * tn__ctl_parse_reply (the fuzz target checks this round trip); a request
 * line is printable ASCII or it is malformed, so a handler only ever sees
 * bytes 0x20..0x7e. The trick is
 * that the server never echoes a peer's bytes verbatim: a reason is cut and
 * squashed to printable ASCII before it is framed, so no input can split a
 * reply line or forge a second one.
 */
#include "ctl_proto.h"

#include <tenure/ctl.h>
#include <tenure/error.h>

#include <stdint.h>
#include <string.h>

static int is_word_byte(unsigned char c) {
  return (c >= 'a' && c <= 'z') || c == '-';
}

static int is_printable(unsigned char c) { return c >= 0x20 && c < 0x7f; }

void tn__ctl_parse_line(const char *line, size_t len, tn__ctl_line *out) {
  size_t i, word_end;

  if (len > 0 && line[len - 1] == '\r')
    len--;
  out->word = line;
  out->word_len = 0;
  out->args = line; /* not line + len: line may be NULL when len is 0 */
  out->args_len = 0;
  if (len == 0) {
    out->kind = TN__CTL_LINE_EMPTY;
    return;
  }
  out->args = line + len;
  for (i = 0; i < len; i++) {
    if (!is_printable((unsigned char)line[i])) {
      out->kind = TN__CTL_LINE_MALFORMED;
      return;
    }
  }
  if (line[0] == ' ') {
    out->kind = TN__CTL_LINE_MALFORMED;
    return;
  }
  for (word_end = 0; word_end < len && line[word_end] != ' '; word_end++)
    ;
  out->word_len = word_end;
  if (word_end < len) {
    out->args = line + word_end + 1;
    out->args_len = len - word_end - 1;
  }
  out->kind = TN__CTL_LINE_COMMAND;
  for (i = 0; i < word_end; i++) {
    if (!is_word_byte((unsigned char)line[i])) {
      out->kind = TN__CTL_LINE_BAD_WORD;
      return;
    }
  }
}

size_t tn__ctl_format_ok(char *buf, size_t n) {
  char digits[24];
  size_t nd = 0, pos = 0;

  do {
    digits[nd++] = (char)('0' + n % 10);
    n /= 10;
  } while (n != 0);
  buf[pos++] = 'o';
  buf[pos++] = 'k';
  buf[pos++] = ' ';
  while (nd > 0)
    buf[pos++] = digits[--nd];
  buf[pos++] = '\n';
  return pos;
}

size_t tn__ctl_format_error(char *buf, const char *reason, size_t len) {
  static const char fallback[] = "unknown error";
  size_t i, pos = 6;

  if (len == 0) {
    reason = fallback;
    len = sizeof fallback - 1;
  }
  if (len > TN__CTL_MAX_REASON)
    len = TN__CTL_MAX_REASON;
  memcpy(buf, "error ", 6);
  for (i = 0; i < len; i++) {
    unsigned char c = (unsigned char)reason[i];
    buf[pos++] = is_printable(c) ? (char)c : '?';
  }
  buf[pos++] = '\n';
  return pos;
}

size_t tn__ctl_format_unknown(char *buf, const char *word, size_t len) {
  static const char prefix[] = "unknown command ";
  char reason[sizeof prefix - 1 + TN__CTL_MAX_ECHO];

  if (len > TN__CTL_MAX_ECHO)
    len = TN__CTL_MAX_ECHO;
  memcpy(reason, prefix, sizeof prefix - 1);
  if (len > 0)
    memcpy(reason + sizeof prefix - 1, word, len);
  return tn__ctl_format_error(buf, reason, sizeof prefix - 1 + len);
}

/* Append at most TN__CTL_MAX_ECHO bytes of text, "..." when cut. */
static size_t put_echo(char *dst, const char *text, size_t len) {
  size_t n = len > TN__CTL_MAX_ECHO ? TN__CTL_MAX_ECHO : len;
  if (n > 0)
    memcpy(dst, text, n);
  if (n < len) {
    memcpy(dst + n, "...", 3);
    n += 3;
  }
  return n;
}

size_t tn__ctl_format_bad_arg(char *buf, const char *word, size_t word_len,
                              const char *args, size_t args_len,
                              const char *why) {
  static const char prefix[] = "bad argument to ";
  char reason[TN__CTL_MAX_REASON + 1];
  size_t pos = sizeof prefix - 1, why_len = why ? strlen(why) : 0;

  memcpy(reason, prefix, pos);
  pos += put_echo(reason + pos, word, word_len);
  memcpy(reason + pos, ": \"", 3);
  pos += 3;
  pos += put_echo(reason + pos, args, args_len);
  reason[pos++] = '"';
  /* 16 + 35 + 3 + 35 + 1 = 90 bytes so far; the reason cuts the rest */
  if (why_len > 0 && pos + 3 < sizeof reason) {
    size_t room = sizeof reason - pos - 3;
    memcpy(reason + pos, " (", 2);
    pos += 2;
    if (why_len > room)
      why_len = room;
    memcpy(reason + pos, why, why_len);
    pos += why_len;
    reason[pos++] = ')';
  }
  return tn__ctl_format_error(buf, reason, pos);
}

/* The protocol's own commands (ctl.h, docs/telemetry.md) and what each
 * takes after its word. Checked here, before any handler runs, so that no
 * handler can silently ignore an argument: "status extra" is refused, not
 * answered as if "extra" meant something. */
typedef enum ctl_arg_rule { ARGS_NONE, ARGS_SEQ } ctl_arg_rule;

static const struct {
  const char *word;
  ctl_arg_rule rule;
} protocol_commands[] = {
    {"status", ARGS_NONE},  {"metrics", ARGS_NONE},
    {"events", ARGS_SEQ},   {"collect", ARGS_NONE},
    {"collect-unplanned", ARGS_NONE},
};

/* A decimal number that fits in 64 bits (leading zeros allowed). */
static int is_seq(const char *text, size_t len) {
  uint64_t v = 0;
  size_t i;
  if (len == 0)
    return 0;
  for (i = 0; i < len; i++) {
    unsigned char c = (unsigned char)text[i];
    if (c < '0' || c > '9')
      return 0;
    if (v > (UINT64_MAX - (uint64_t)(c - '0')) / 10)
      return 0;
    v = v * 10 + (uint64_t)(c - '0');
  }
  return 1;
}

size_t tn__ctl_check_args(char *buf, const char *word, size_t word_len,
                          const char *args, size_t args_len) {
  size_t i;
  for (i = 0; i < sizeof protocol_commands / sizeof protocol_commands[0];
       i++) {
    const char *w = protocol_commands[i].word;
    if (strlen(w) != word_len || memcmp(w, word, word_len) != 0)
      continue;
    if (args_len == 0)
      return 0;
    switch (protocol_commands[i].rule) {
    case ARGS_NONE:
      return tn__ctl_format_bad_arg(buf, word, word_len, args, args_len,
                                    "it takes no argument");
    case ARGS_SEQ:
      if (is_seq(args, args_len))
        return 0;
      return tn__ctl_format_bad_arg(
          buf, word, word_len, args, args_len,
          "want SINCE_SEQ, a decimal number below 2^64");
    }
  }
  return 0;
}

const char *tn__ctl_reason(int code) {
  switch (code) {
  case TN_ENOTSUP:
    return "unsupported";
  case TN_EINVAL:
    return "bad argument";
  default:
    return tn_strerror(code);
  }
}

static int reason_is(const char *reason, size_t len, const char *text) {
  size_t n = strlen(text);
  return len == n && memcmp(reason, text, n) == 0;
}

int tn__ctl_reason_code(const char *reason, size_t len) {
  static const int codes[] = {
#define TN__CTL_CODE(name, value, msg) TN_##name,
      TN_ERRNO_MAP(TN__CTL_CODE)
#undef TN__CTL_CODE
  };
  size_t i;

  if (reason_is(reason, len, "unsupported"))
    return TN_ENOTSUP;
  if (reason_is(reason, len, "too many clients") ||
      reason_is(reason, len, "evicted: too many clients"))
    return TN_EBUSY;
  if (reason_is(reason, len, "request timed out"))
    return TN_ETIMEDOUT;
  for (i = 0; i < sizeof codes / sizeof codes[0]; i++)
    if (reason_is(reason, len, tn_strerror(codes[i])))
      return codes[i];
  return TN_EINVAL;
}

int tn__ctl_parse_reply(const char *line, size_t len, tn__ctl_reply *out) {
  size_t i;

  if (len > 3 && memcmp(line, "ok ", 3) == 0) {
    uint64_t n = 0;
    if (line[3] == '0' && len > 4)
      return TN_EPROTO;
    for (i = 3; i < len; i++) {
      unsigned char c = (unsigned char)line[i];
      if (c < '0' || c > '9')
        return TN_EPROTO;
      n = n * 10 + (uint64_t)(c - '0');
      if (n > (uint64_t)TN_CTL_MAX_REPLY)
        return TN_EPROTO;
    }
    out->is_ok = 1;
    out->length = (size_t)n;
    out->reason = NULL;
    out->reason_len = 0;
    return 0;
  }
  if (len > 6 && memcmp(line, "error ", 6) == 0) {
    for (i = 6; i < len; i++)
      if (!is_printable((unsigned char)line[i]))
        return TN_EPROTO;
    out->is_ok = 0;
    out->length = 0;
    out->reason = line + 6;
    out->reason_len = len - 6;
    return 0;
  }
  return TN_EPROTO;
}
