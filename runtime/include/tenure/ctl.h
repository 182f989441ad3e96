/*
 * The control socket: a Unix stream socket per process,
 * $TENURE_RUN_DIR/<pid>.sock, speaking a line protocol.
 *
 * Protocol (docs/telemetry.md has the full reference):
 *   request:  one line, at most TN_CTL_MAX_LINE bytes including '\n';
 *             a command word and optional arguments separated by one space.
 *   reply:    "ok <n>\n" followed by exactly n bytes of payload, or
 *             "error <reason>\n". The connection stays usable after either.
 *   commands: status, metrics, events [SINCE_SEQ], collect, collect-unplanned.
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
 * On "ok", returns 0 and sets *payload to a malloc'd NUL-terminated copy of
 * the payload (the caller frees it) and *payload_len to its length. On
 * "error <reason>" returns a code mapped from the reason:
 * TN_ENOTSUP for "unsupported", TN_EPERM for "permission denied", TN_EINVAL
 * otherwise, and if errbuf is not NULL copies the reason there. Connection
 * failures: TN_ENOENT (no such socket), TN_EPERM, TN_EUNAVAILABLE (refused:
 * nobody listening, e.g. a stale socket). A malformed or truncated reply:
 * TN_EPROTO. Blocks for at most timeout (<= 0 means 5 s).
 */
int tn_ctl_call(const char *socket_path, const char *line, char **payload,
                size_t *payload_len, char *errbuf, size_t errlen,
                tn_nanos timeout);

/* --- server ---------------------------------------------------------- */

/* A growable output buffer handed to handlers. */
typedef struct tn_ctl_out tn_ctl_out;
/* Append to the reply payload. Return 0 or TN_ENOMEM. */
int tn_ctl_out_write(tn_ctl_out *out, const void *data, size_t len);
int tn_ctl_out_printf(tn_ctl_out *out, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * A command handler. args is the rest of the line after the command word and
 * one space ("" if none), NUL-terminated. Write the payload to out and return
 * 0 for "ok", or a negative TN_E* for "error <reason>" (TN_ENOTSUP gives
 * "error unsupported", TN_EINVAL "error bad argument", others
 * tn_strerror()). Runs on the server thread; must not block for long.
 */
typedef int (*tn_ctl_handler)(const char *args, tn_ctl_out *out, void *arg);

typedef struct tn_ctl_server tn_ctl_server;

typedef struct tn_ctl_config {
  const char *path;       /* NULL: tn_ctl_socket_path(getpid()) */
  tn_nanos client_idle;   /* a client silent this long is dropped; 0: 10 s */
  unsigned max_clients;   /* 0: 16 */
} tn_ctl_config;

/* Create a server (not yet listening). cfg may be NULL. */
int tn_ctl_server_new(const tn_ctl_config *cfg, tn_ctl_server **out);
/* Register a command before start. The word must be [a-z-]+. TN_EEXIST on a
 * duplicate, TN_EINVAL on a bad word, TN_EBUSY once started. */
int tn_ctl_server_register(tn_ctl_server *s, const char *word,
                           tn_ctl_handler fn, void *arg);
/*
 * Bind, listen and start the server thread. A stale socket file whose owner
 * is gone (connect refused) is replaced; a live one gives TN_EBUSY. Returns 0
 * or a negative code; on failure nothing is left behind.
 */
int tn_ctl_server_start(tn_ctl_server *s);
/* Stop the thread, close every client, unlink the socket file. Idempotent. */
void tn_ctl_server_stop(tn_ctl_server *s);
/* Stop if needed, then free. */
void tn_ctl_server_free(tn_ctl_server *s);
/* The socket path in use (valid until free). */
const char *tn_ctl_server_path(const tn_ctl_server *s);

#ifdef __cplusplus
}
#endif

#endif
