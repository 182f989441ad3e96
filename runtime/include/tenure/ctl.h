/*
 * The control socket: a Unix stream socket per process,
 * $TENURE_RUN_DIR/<pid>.sock, speaking a line protocol.
 *
 * Protocol (docs/telemetry.md has the full reference):
 *   request:  one line, at most TN_CTL_MAX_LINE bytes including '\n';
 *             a command word and optional arguments separated by one space.
 *             One '\r' before the '\n' is ignored.
 *   reply:    "ok <n>\n" followed by exactly n bytes of payload, or
 *             "error <reason>\n". The connection stays usable after either.
 *             Replies come in request order, one per line.
 *   errors:   "empty request"; "malformed request" (a byte outside
 *             printable ASCII 0x20..0x7e, or a leading space); "unknown
 *             command <word>" (word cut and made printable); "line too long"
 *             (sent at once, the rest of that line is then dropped);
 *             "bad argument to <word>: \"<args>\" (<why>)" for an argument
 *             the command does not take; a handler's reason (see
 *             tn_ctl_handler); and, just before the server closes the
 *             connection, "permission denied", "too many clients", "evicted:
 *             too many clients" or "request timed out".
 *   commands: status, metrics, events [SINCE_SEQ], collect, collect-unplanned.
 *             The server checks their arguments itself, whoever registers
 *             them: all but events take none, events a decimal SINCE_SEQ.
 *   slots:    a line must be complete within TN_CTL_REQUEST_DEADLINE (2 s) of its
 *             first byte, or the client gets "error request timed out" and
 *             is dropped; a client silent for client_idle (10 s) is dropped.
 *             A newcomer that finds all max_clients slots taken evicts the
 *             client that has gone longest without a complete line (it is
 *             told "evicted: too many clients"); only when every slot holds
 *             a client whose reply is going out within its deadline is the
 *             newcomer refused with "too many clients". So clients that
 *             trickle bytes cannot keep a prompt request out.
 *
 * Security: the socket is mode 0600 in a directory of mode 0700, and the
 * server also checks the peer's uid with SO_PEERCRED; another uid (root is
 * not special) gets "error permission denied" and is disconnected.
 *
 * Concurrency: a tn_ctl_server runs its own thread (real pthread_create, not
 * registered with the collector, no GC memory). Handlers run on that thread,
 * one at a time, and must not block for long: a slow handler delays other
 * clients, never the application. tn_ctl_server_start/stop are not
 * thread-safe against each other for the same server.
 *
 *   call                        may run concurrently with
 *   tn_ctl_run_dir, _socket_path anything but setenv/unsetenv
 *   tn_ctl_call                 anything, from any thread, any number at once
 *   tn_ctl_server_new/register  nothing else on the same server
 *   tn_ctl_server_start/stop    nothing else on the same server
 *   tn_ctl_server_path          anything but free
 *   tn_ctl_out_*                only from the handler that received out
 */
#ifndef TENURE_CTL_H
#define TENURE_CTL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <tenure/clock.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TN_CTL_MAX_LINE 256
/* A request line must be complete this long after its first byte reaches
 * the server, however slowly it arrives (see "slots" above). */
#define TN_CTL_REQUEST_DEADLINE (2 * TN_SEC)
/* The largest reply payload: a handler's output is capped at it and a client
 * refuses an "ok <n>" header above it. */
#define TN_CTL_MAX_REPLY ((size_t)64 << 20)

/*
 * The directory for control sockets: $TENURE_RUN_DIR if set; else /run/tenure
 * if it exists and is writable or can be created; else
 * $XDG_RUNTIME_DIR/tenure; else /tmp/tenure-<uid>. With create != 0 the chosen
 * directory is created with mode 0700 if missing. Returns 0 and writes a
 * NUL-terminated path, TN_ERANGE if len is too small, TN_EIO/TN_EPERM if no
 * candidate is usable (when create != 0).
 */
int tn_ctl_run_dir(char *buf, size_t len, int create);

/* "<run dir>/<pid>.sock". Same returns as tn_ctl_run_dir (create = 0). */
int tn_ctl_socket_path(pid_t pid, char *buf, size_t len);

/*
 * Client: connect to socket_path, send line (without '\n'), read one reply.
 * line must hold no '\n' and be shorter than TN_CTL_MAX_LINE, else
 * TN_EINVAL and nothing is sent.
 * The whole line is sent at once, so the server's request deadline never
 * applies to it.
 * On "ok", returns 0 and sets *payload to a malloc'd NUL-terminated copy of
 * the payload (the caller frees it) and *payload_len to its length; either
 * pointer may be NULL when the caller does not want it. On
 * "error <reason>" returns a code mapped from the reason:
 * TN_ENOTSUP for "unsupported", TN_EBUSY for "too many clients" (and
 * "evicted: too many clients"), TN_ETIMEDOUT for "request timed out", the code
 * whose tn_strerror() text the reason is (so TN_EPERM for "permission
 * denied", and a handler's own code comes back), TN_EINVAL otherwise, and if
 * errbuf is not NULL copies the reason there (truncated, NUL-terminated;
 * errbuf is "" after any other outcome). Connection
 * failures: TN_ENOENT (no such socket), TN_EPERM, TN_EUNAVAILABLE (refused:
 * nobody listening, e.g. a stale socket; or the server closed the connection
 * without a byte of reply). A malformed or truncated reply, or a payload
 * above TN_CTL_MAX_REPLY: TN_EPROTO. Blocks for at most timeout (<= 0 means
 * 5 s), measured on the boot-time clock; past it, TN_ETIMEDOUT.
 */
int tn_ctl_call(const char *socket_path, const char *line, char **payload,
                size_t *payload_len, char *errbuf, size_t errlen,
                tn_nanos timeout);

/* --- server ---------------------------------------------------------- */

/* A growable output buffer handed to handlers. */
typedef struct tn_ctl_out tn_ctl_out;
/* Append to the reply payload. Return 0, or TN_ENOMEM when memory runs out or
 * the payload would pass TN_CTL_MAX_REPLY (the payload is then unchanged). */
int tn_ctl_out_write(tn_ctl_out *out, const void *data, size_t len);
int tn_ctl_out_printf(tn_ctl_out *out, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * A command handler. args is the rest of the line after the command word and
 * one space ("" if none), NUL-terminated, valid during the call; it holds
 * printable ASCII only. Write the payload to out and return
 * 0 for "ok", or a negative TN_E* for "error <reason>" (TN_ENOTSUP gives
 * "error unsupported", TN_EINVAL "error bad argument", or "error bad
 * argument to <word>: \"<args>\"" when args is not empty, others
 * tn_strerror()). On error whatever was written to out is discarded. Runs on
 * the server thread; must not block for long; must not touch GC memory.
 */
typedef int (*tn_ctl_handler)(const char *args, tn_ctl_out *out, void *arg);

typedef struct tn_ctl_server tn_ctl_server;

typedef struct tn_ctl_config {
  const char *path;       /* NULL: tn_ctl_socket_path(getpid()) */
  tn_nanos client_idle;   /* a client that neither sends nor takes a byte of
                             its reply for this long is dropped; 0: 10 s */
  unsigned max_clients;   /* 0: 16 */
} tn_ctl_config;

/* Create a server (not yet listening). cfg may be NULL. With no path, the
 * run directory is resolved (and created) now, as tn_ctl_run_dir(create=1)
 * does, and its errors are returned. TN_ERANGE if the path does not fit in a
 * sockaddr_un; TN_ENOMEM. */
int tn_ctl_server_new(const tn_ctl_config *cfg, tn_ctl_server **out);
/* Register a command before start. The word must be [a-z-]+, shorter than
 * TN_CTL_MAX_LINE, and is copied. TN_EEXIST on a duplicate, TN_EINVAL on a
 * bad word, TN_EBUSY once started, TN_ENOMEM. */
int tn_ctl_server_register(tn_ctl_server *s, const char *word,
                           tn_ctl_handler fn, void *arg);
/*
 * Bind, listen and start the server thread. A stale socket file whose owner
 * is gone (connect refused) is replaced; a live one gives TN_EBUSY, and a
 * file there that is not a socket TN_EEXIST (neither is touched). The socket
 * is made mode 0600 whatever the umask. TN_EBUSY also if already started.
 * Returns 0 or a negative code; on failure nothing is left behind.
 */
int tn_ctl_server_start(tn_ctl_server *s);
/* Stop the thread (waiting for a running handler to return), close every
 * client, unlink the socket file if it is still the one this server bound.
 * Idempotent. The server may be started again. */
void tn_ctl_server_stop(tn_ctl_server *s);
/* Stop if needed, then free. NULL is a no-op. */
void tn_ctl_server_free(tn_ctl_server *s);
/* The socket path in use (valid until free). */
const char *tn_ctl_server_path(const tn_ctl_server *s);

#ifdef __cplusplus
}
#endif

#endif
