/*
 * Internal: the control protocol without the sockets. Request lines are
 * classified, replies are framed and reply headers are parsed here, by
 * functions that do no I/O and allocate nothing, so that the fuzz target
 * (tests/fuzz/fuzz_ctl_line.c) and the unit tests can drive them with any
 * bytes at all. ctl.c does the I/O around them.
 *
 * Every function here is total: any pointer/length pair is valid input,
 * including embedded NULs, a missing '\n' and numbers of any size. All are
 * thread-safe (no state).
 */
#ifndef TENURE_CTL_PROTO_H
#define TENURE_CTL_PROTO_H

#include <stddef.h>

/* Room kept in front of a reply payload for "ok <n>\n" (n has <= 20 digits). */
#define TN__CTL_HEADER_ROOM 24
/* Longest error reason the server sends; a longer one is cut. */
#define TN__CTL_MAX_REASON 160
/* "error " + reason + "\n". */
#define TN__CTL_MAX_ERROR_LINE (6 + TN__CTL_MAX_REASON + 1)
/* Longest reply header a client accepts, without its '\n'. */
#define TN__CTL_MAX_HEADER 256
/* How much of an unknown command word is echoed back. */
#define TN__CTL_MAX_ECHO 32

typedef enum tn__ctl_line_kind {
  TN__CTL_LINE_COMMAND,   /* word is [a-z-]+, args follow one space */
  TN__CTL_LINE_EMPTY,     /* nothing (or a lone '\r') */
  TN__CTL_LINE_MALFORMED, /* a byte outside printable ASCII 0x20..0x7e
                             (controls, NUL, DEL, >= 0x80) or a leading
                             space */
  TN__CTL_LINE_BAD_WORD   /* the word has a printable byte outside [a-z-] */
} tn__ctl_line_kind;

typedef struct tn__ctl_line {
  tn__ctl_line_kind kind;
  const char *word; /* COMMAND, BAD_WORD: points into the line */
  size_t word_len;
  const char *args; /* COMMAND: after the first space; "" (len 0) if none */
  size_t args_len;
} tn__ctl_line;

/*
 * Classify one request line: len bytes, without the '\n'. One trailing '\r'
 * is ignored so that interactive tools that send CRLF work. Never fails;
 * word and args always lie inside [line, line + len].
 */
void tn__ctl_parse_line(const char *line, size_t len, tn__ctl_line *out);

/* Write "ok <n>\n" to buf, which has TN__CTL_HEADER_ROOM bytes. Returns the
 * length (no NUL is written). */
size_t tn__ctl_format_ok(char *buf, size_t n);

/*
 * Write "error <reason>\n" to buf, which has TN__CTL_MAX_ERROR_LINE bytes.
 * The reason is cut to TN__CTL_MAX_REASON bytes and every byte outside
 * printable ASCII becomes '?', so that the line is always one well-formed
 * line whatever the reason holds; an empty reason becomes "unknown error".
 * Returns the length (no NUL is written).
 */
size_t tn__ctl_format_error(char *buf, const char *reason, size_t len);

/* "error unknown command <word>\n", the word cut to TN__CTL_MAX_ECHO bytes
 * and sanitized as above. Same buffer and return as tn__ctl_format_error. */
size_t tn__ctl_format_unknown(char *buf, const char *word, size_t len);

/*
 * "error bad argument to <word>: \"<args>\" (<why>)\n", word and args each
 * cut to TN__CTL_MAX_ECHO bytes ("..." marks a cut) and the whole reason
 * sanitized and cut as in tn__ctl_format_error; why may be NULL (no
 * parenthesis). Same buffer and return as tn__ctl_format_error.
 */
size_t tn__ctl_format_bad_arg(char *buf, const char *word, size_t word_len,
                              const char *args, size_t args_len,
                              const char *why);

/*
 * Check the arguments of a command of the protocol itself: status, metrics,
 * collect and collect-unplanned take none, events an optional SINCE_SEQ
 * (decimal, below 2^64). Returns 0 when they are acceptable, or when word
 * is not one of these (its handler judges); otherwise writes the refusal,
 * as tn__ctl_format_bad_arg, to buf (TN__CTL_MAX_ERROR_LINE bytes) and
 * returns its length.
 */
size_t tn__ctl_check_args(char *buf, const char *word, size_t word_len,
                          const char *args, size_t args_len);

/* The reason a server sends for a handler's failure code: "unsupported" for
 * TN_ENOTSUP, "bad argument" for TN_EINVAL, tn_strerror() otherwise. */
const char *tn__ctl_reason(int code);

/*
 * The code a client returns for an error reason: TN_ENOTSUP for
 * "unsupported", TN_EBUSY for "too many clients" and "evicted: too many
 * clients", TN_ETIMEDOUT for "request timed out", the code whose
 * tn_strerror() text it is (so "permission denied" is TN_EPERM), TN_EINVAL
 * for anything else.
 */
int tn__ctl_reason_code(const char *reason, size_t len);

typedef struct tn__ctl_reply {
  int is_ok;
  size_t length;      /* is_ok: payload bytes that follow the header */
  const char *reason; /* !is_ok: points into the line */
  size_t reason_len;
} tn__ctl_reply;

/*
 * Parse a reply header, len bytes without the '\n'. Strict: "ok " and a
 * canonical decimal (no sign, no leading zero, no spaces) of at most
 * TN_CTL_MAX_REPLY, or "error " and a non-empty reason of printable ASCII.
 * Returns 0, or TN_EPROTO for anything else (then *out is untouched).
 */
int tn__ctl_parse_reply(const char *line, size_t len, tn__ctl_reply *out);

/*
 * Not pure, declared here for ctl.c's tests: tn_ctl_run_dir() with its
 * inputs made explicit. system_dir stands for "/run", env_dir for
 * $TENURE_RUN_DIR and xdg_dir for $XDG_RUNTIME_DIR (NULL or "" when unset).
 */
int tn__ctl_run_dir_in(const char *system_dir, const char *env_dir,
                       const char *xdg_dir, char *buf, size_t len, int create);

#endif
