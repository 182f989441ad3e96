/* Fuzz target: the control protocol's parsers (ctl_proto.c). The same bytes
 * go through the request-line classifier and the reply-header parser, and
 * through the framing functions, which must always produce one line that
 * parses back. Any input must keep every pointer inside the input. */
#include "ctl_proto.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <tenure/ctl.h>
#include <tenure/error.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int within(const char *p, size_t n, const char *base, size_t len) {
  return p >= base && n <= len && p + n <= base + len;
}

static int is_word(const char *p, size_t n) {
  size_t i;
  for (i = 0; i < n; i++)
    if (!((p[i] >= 'a' && p[i] <= 'z') || p[i] == '-'))
      return 0;
  return n > 0;
}

static void check_framing(const char *text, size_t size) {
  char line[TN__CTL_MAX_ERROR_LINE];
  tn__ctl_reply r;
  size_t n = tn__ctl_format_error(line, text, size);
  if (n > sizeof line || line[n - 1] != '\n' || memchr(line, '\n', n - 1))
    abort();
  if (tn__ctl_parse_reply(line, n - 1, &r) != 0 || r.is_ok)
    abort();
  n = tn__ctl_format_unknown(line, text, size);
  if (n > sizeof line || line[n - 1] != '\n' || memchr(line, '\n', n - 1))
    abort();
  if (tn__ctl_parse_reply(line, n - 1, &r) != 0 || r.is_ok ||
      tn__ctl_reason_code(r.reason, r.reason_len) != TN_EINVAL)
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *text = (const char *)data;
  tn__ctl_line req;
  tn__ctl_reply reply;
  char header[TN__CTL_HEADER_ROOM];

  tn__ctl_parse_line(text, size, &req);
  if (!within(req.word, req.word_len, text, size) ||
      !within(req.args, req.args_len, text, size))
    abort();
  if (req.kind == TN__CTL_LINE_COMMAND) {
    if (!is_word(req.word, req.word_len) ||
        memchr(req.args, '\0', req.args_len) != NULL)
      abort();
  } else if (req.kind == TN__CTL_LINE_EMPTY) {
    if (size > 1 || (size == 1 && text[0] != '\r'))
      abort();
  } else if (req.kind == TN__CTL_LINE_BAD_WORD) {
    if (req.word_len == 0 || is_word(req.word, req.word_len))
      abort();
  }

  if (tn__ctl_parse_reply(text, size, &reply) == 0) {
    if (reply.is_ok) {
      /* only the canonical form is accepted: it formats back identically */
      size_t n = tn__ctl_format_ok(header, reply.length);
      if (reply.length > TN_CTL_MAX_REPLY || n - 1 != size ||
          memcmp(header, text, size) != 0)
        abort();
    } else if (!within(reply.reason, reply.reason_len, text, size) ||
               reply.reason_len == 0) {
      abort();
    } else {
      tn__ctl_reason_code(reply.reason, reply.reason_len);
    }
  }

  check_framing(text, size);
  return 0;
}
