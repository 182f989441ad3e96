/*
 * The fence: the storage side of fencing tokens (design §5.4; promises S2
 * and S4).
 *
 * A store that acts on behalf of a lease holder calls tn_fence_admit() with
 * the holder's token (from tn_guard_begin) before it applies a write. The
 * fence remembers, per resource, the highest token it has ever admitted and
 * refuses anything lower with TN_EFENCED. So a holder that was paused after
 * its guard check, and whose lease has since gone to a holder with a higher
 * token that already wrote, cannot overwrite the newer work.
 *
 * Storage. The state lives in one file, PATH, and is replaced as a whole on
 * every change: a complete new file is written to PATH.tmp, fsync'd, renamed
 * over PATH, and the directory is fsync'd, all before admit returns 0. A
 * crash at any instant leaves either the old file or the new one, never a
 * mix. Processes sharing PATH serialise through an fcntl OFD lock on
 * PATH.lock (the state file itself cannot carry the lock: it is replaced by
 * rename). Every operation re-reads PATH under that lock, so a token admitted
 * by another process is always seen. The three names must sit in a directory
 * the caller may write. If PATH is a symbolic link, the first change replaces
 * the link with a regular file: give the real path.
 *
 * File format (little-endian; version 1):
 *
 *   offset  size  field
 *   0       8     magic "TNFENCE\0"
 *   8       4     version = 1
 *   12      4     count: number of entries (at most TN_FENCE_RESOURCES_MAX)
 *   16      4     CRC32C (Castagnoli) of bytes [0,16) followed by [20,end)
 *   20      72*count entries, sorted by resource name (strcmp order), unique:
 *           1     name length n, 1..63
 *           63    name: n bytes of [A-Za-z0-9._/-], then zero bytes
 *           8     highest admitted token, >= 1
 *
 * The file is exactly 20 + 72 * count bytes. Anything else (wrong magic or
 * version, a size that does not match the count, trailing bytes, a bad CRC,
 * bad name bytes or padding, token 0, unsorted or duplicate names) is
 * refused with TN_ECORRUPT and a message naming the file and the fault. A
 * corrupt file is never rewritten, repaired or reinitialised: the operator
 * decides. A missing file is created empty by tn_fence_open only.
 *
 * Errors. Every call returns 0 or a negative TN_E* code. After a failure,
 * tn_fence_last_error() describes it in words (naming the file and what was
 * wrong) for the calling thread.
 *
 * Lifecycle: tn_fence_open -> admit/highest/list ... -> tn_fence_close.
 * A handle must not be used in a child after fork(): the child shares the
 * parent's lock, so it must open its own handle.
 *
 * Concurrency:
 *                      admit  highest  list  close  (same handle)
 *   admit              yes    yes      yes   no
 *   highest            yes    yes      yes   no
 *   list               yes    yes      yes   no
 *   close              no     no       no    no
 * "yes": may run at the same time from different threads; they are
 * serialised by a mutex in the handle. Different handles, in this process
 * or in others, on the same PATH may be used at once without restriction
 * (the OFD lock is per handle, so two handles in one process exclude each
 * other too). tn_fence_last_error is per thread.
 *
 * Blocking: admit, highest and list may block on the lock (for as long as
 * another process holds it: one read-decide-write cycle, or longer if that
 * process is paused inside it) and on disk I/O; an admit that records a new
 * token blocks on two fsyncs. None may be called from a signal handler or a
 * callback that must not block (pause-monitor subscribers, the collector's
 * event callback).
 */
#ifndef TENURE_FENCE_H
#define TENURE_FENCE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TN_FENCE_RESOURCE_MAX 63     /* bytes, without the NUL: [A-Za-z0-9._/-] */
#define TN_FENCE_RESOURCES_MAX 65536 /* distinct resources in one state file */

typedef struct tn_fence tn_fence;

typedef struct tn_fence_entry {
  char resource[TN_FENCE_RESOURCE_MAX + 1];
  uint64_t token; /* the highest admitted, >= 1 */
} tn_fence_entry;

/*
 * Open the fence state at path, creating an empty one (durably) if path does
 * not exist, and PATH.lock next to it. The existing state is read and
 * checked under the lock. Returns 0 and *out; TN_EINVAL (NULL or empty path,
 * a path ending in '/', or something that is not a regular file at path);
 * TN_ECORRUPT (the file exists but is not a valid state: left untouched);
 * TN_ENOENT (the directory does not exist); TN_EPERM; TN_EIO; TN_ENOMEM.
 * Blocks on the lock and, when it creates the file, on fsync. The caller
 * owns *out and releases it with tn_fence_close.
 */
int tn_fence_open(const char *path, tn_fence **out);

/*
 * Open an existing state for reading only (for inspection tools such as
 * `tenurectl fence show`): creates nothing, takes no lock (the state is
 * always replaced by an atomic rename, so every read sees one whole file),
 * and needs only read permission. TN_ENOENT when path does not exist; other
 * errors as tn_fence_open. On such a handle admit returns TN_EPERM.
 */
int tn_fence_open_readonly(const char *path, tn_fence **out);

/* Release the handle (its lock file descriptor, memory). The state on disk
 * is already durable; nothing is written. NULL is ignored. No other call on
 * f may be running or follow. */
void tn_fence_close(tn_fence *f);

/*
 * Admit a write by the holder of token for resource.
 *   0            token >= the highest admitted for resource. If it is
 *                higher, it has been recorded durably (fsync'd file and
 *                directory) before this returns; if equal, nothing is
 *                written.
 *   TN_EFENCED   token is lower than the highest admitted: refuse the write.
 *   TN_EINVAL    f or resource NULL, resource not 1..63 bytes of
 *                [A-Za-z0-9._/-], or token 0 (tokens start at 1).
 *   TN_ECORRUPT  the state file on disk is no longer valid (left untouched).
 *   TN_ERANGE    resource is new and the state already holds
 *                TN_FENCE_RESOURCES_MAX resources.
 *   TN_EPERM     f was opened read-only (or the directory is not writable).
 *   TN_EIO, TN_ENOMEM, TN_ENOENT (the state file disappeared).
 * On any error the write must not be applied. After TN_EIO the new token may
 * or may not be on disk, but the recorded token never goes backwards: the
 * previous state file stays whole until the rename replaces it.
 * Blocks (lock, fsync). Any thread.
 */
int tn_fence_admit(tn_fence *f, const char *resource, uint64_t token);

/* The highest token admitted for resource, read from the file under the
 * lock: 0 and *token = 0 when none ever was. TN_EINVAL, TN_ECORRUPT, TN_EIO.
 * Blocks (lock, read). Any thread. */
int tn_fence_highest(tn_fence *f, const char *resource, uint64_t *token);

/* Every resource and its highest token, read from the file under the lock,
 * sorted by resource name. Fills up to max entries of out (out may be NULL
 * when max is 0) and sets *count to how many resources exist, which may
 * exceed max. TN_EINVAL, TN_ECORRUPT, TN_EIO. Blocks. Any thread. */
int tn_fence_list(tn_fence *f, tn_fence_entry *out, size_t max, size_t *count);

/* Why the most recent tn_fence_* call on this thread failed, naming the file
 * and the fault (e.g. "fence state /var/lib/app/fence: checksum mismatch
 * ..."); "" when it succeeded. Thread-local storage, valid until this
 * thread's next tn_fence_* call. Never NULL. */
const char *tn_fence_last_error(void);

#ifdef __cplusplus
}
#endif

#endif
