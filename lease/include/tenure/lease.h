/*
 * Leases, guards and the leader loop.
 *
 * A lease is held from an authority (a backend chosen by URI). The holder
 * computes a local deadline on CLOCK_BOOTTIME that is never later, in real
 * time, than the moment the authority may give the lease to someone else:
 *
 *   deadline = t_send + D * (1 - drift_ppm / 1e6) - margin
 *
 * where t_send is read before the acquire or renew request is sent and D is
 * the duration the authority granted. (The embedded file authority shares
 * this machine's clock, so there deadline = stored boot-time expiry - margin.)
 *
 * Every guarded action is bracketed by tn_guard_begin/_end. begin re-reads
 * the clock and refuses (TN_ESTALE) unless the action can finish before the
 * deadline; it hands out the fencing token, which the action must present to
 * the store so that a write delayed by a pause after the check is refused
 * there (fence.h). Tokens of one lease name strictly increase from one
 * holder to the next and survive crashes of the authority.
 *
 * Lifecycle: tn_authority_open -> tn_lease_open -> acquire/renew/release ...
 * -> tn_lease_close -> tn_authority_close. A lease must be closed before its
 * authority.
 *
 * Concurrency:
 *   tn_guard_begin/_end, tn_lease_state, _token, _remaining: any thread, any
 *     number at once, concurrently with everything else; lock-free, never
 *     block (an RCU read of an immutable snapshot plus one clock read).
 *   acquire/renew/release on one lease: one thread at a time (the leader
 *     loop's renewal thread, or the application's own).
 *   tn_authority_* queries: any thread; they may block on I/O.
 */
#ifndef TENURE_LEASE_H
#define TENURE_LEASE_H

#include <stddef.h>
#include <stdint.h>
#include <tenure/clock.h>
#include <tenure/gcgov.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TN_LEASE_NAME_MAX 63   /* bytes, without the NUL: [A-Za-z0-9._-] */
#define TN_HOLDER_MAX 63       /* bytes, printable ASCII, no '"' or '\\' */

typedef struct tn_authority tn_authority;
typedef struct tn_lease tn_lease;

/*
 * Open the authority named by uri:
 *   file:///path/to/leases.tn   the embedded authority (one machine, no
 *                               server); the file is created if missing.
 *   etcd://host:port[,host:port...][/prefix]
 *   etcds://...                 etcd v3 through its JSON gateway (plain or
 *                               TLS); docs/backends.md.
 * Returns 0, TN_EINVAL (malformed URI or unknown scheme), TN_ECORRUPT (the
 * file exists but is not a valid lease table: it is never reinitialised),
 * TN_EPERM, TN_EIO. tn_authority_last_error() then says why in words.
 */
int tn_authority_open(const char *uri, tn_authority **out);
/* The same for inspection: creates nothing, needs only read permission,
 * takes shared locks; force_release and leases on it fail with TN_EPERM
 * (file://). For etcd:// it is tn_authority_open. TN_ENOENT when the file
 * does not exist; TN_ENOTSUP when the path is not a regular file. */
int tn_authority_open_readonly(const char *uri, tn_authority **out);
void tn_authority_close(tn_authority *a);
/* A human-readable reason for the last failure on this thread (naming the
 * file or server and what was wrong); "" if none. */
const char *tn_authority_last_error(void);

typedef struct tn_lease_info {
  char name[TN_LEASE_NAME_MAX + 1];
  char holder[TN_HOLDER_MAX + 1]; /* "" when nobody holds it */
  uint64_t token;                 /* the current or last holder's token */
  tn_nanos remaining;             /* authority's view; <= 0 when free */
  int held;
} tn_lease_info;

/* What the authority says about one lease. TN_ENOENT if never acquired. */
int tn_authority_observe(tn_authority *a, const char *name, tn_lease_info *out);
/* Up to max leases; *count is how many exist (may exceed max). */
int tn_authority_list(tn_authority *a, tn_lease_info *out, size_t max,
                      size_t *count);
/* An operator's forced handoff: end the current term now. The holder finds
 * out at its next renewal; its guards keep refusing from its own deadline
 * on, and the store's fence refuses its token once a successor wrote.
 * TN_ENOENT if not held. */
int tn_authority_force_release(tn_authority *a, const char *name);

typedef enum tn_lease_state {
  TN_LEASE_FOLLOWER = 0,
  TN_LEASE_CANDIDATE,
  TN_LEASE_LEADER,
  TN_LEASE_STEPPING_DOWN
} tn_lease_state;

const char *tn_lease_state_name(tn_lease_state s);

typedef struct tn_lease_options {
  tn_nanos ttl;         /* lease duration asked for; 0: 2 s */
  int32_t drift_ppm;    /* clock rate bound vs the authority; -1: default 1000 */
  tn_nanos margin;      /* subtracted from every deadline; -1: default
                           max(ttl / 20, 5 ms) */
  tn_nanos renew_every; /* leader loop renewal period; 0: ttl / 3 */
} tn_lease_options;

/* Defaults (ttl 2 s, drift 1000 ppm, margin and renew_every derived). */
void tn_lease_options_init(tn_lease_options *o);

/* A handle on one lease name for one holder identity. Does not contact the
 * authority. TN_EINVAL for a bad name, holder or options. */
int tn_lease_open(tn_authority *a, const char *name, const char *holder,
                  const tn_lease_options *opts, tn_lease **out);
/* Stops leading (without releasing: the lease then expires) and frees. */
void tn_lease_close(tn_lease *l);

/* One attempt: 0 and LEADER, or TN_EBUSY (someone else holds it), or a
 * backend error (TN_EIO, TN_EUNAVAILABLE, ...). Blocks for one round trip. */
int tn_lease_try_acquire(tn_lease *l);
/* Try until acquired or timeout (<= 0: forever), waking as soon as the
 * authority sees the lease freed. TN_ETIMEDOUT. */
int tn_lease_acquire(tn_lease *l, tn_nanos timeout);
/* Extend the current term. 0; TN_ELOST if the authority no longer has us
 * as holder (expired, released by an operator); TN_EREPLACED if the
 * authority's state was deleted or replaced under us (a lease file removed
 * or moved over); TN_ECORRUPT if the authority refuses its state (a damaged
 * file); TN_ESTALE if the deadline passed before the renewal was confirmed.
 * After these the state is FOLLOWER and guards refuse. Other failures
 * (TN_EIO, TN_ETIMEDOUT, TN_ENOSPC, ...) leave the term to its deadline, to
 * be retried. tn_lease_last_error() has the authority's words. */
int tn_lease_renew(tn_lease *l);
/* Give the lease up now (handoff): guards refuse from before the call
 * returns, then the authority frees the name. */
int tn_lease_release(tn_lease *l);

tn_lease_state tn_lease_state_get(const tn_lease *l);
/* The current term's fencing token, 0 when not leader. */
uint64_t tn_lease_token(const tn_lease *l);
/* deadline - now, or 0 when not leader or past the deadline. */
tn_nanos tn_lease_remaining(const tn_lease *l);
/* The local deadline (boot time) of the current term, 0 when not leader. */
tn_nanos tn_lease_deadline(const tn_lease *l);

/*
 * Guard a action expected to take at most action_budget. Returns 0 and sets
 * *token when now + action_budget < deadline; otherwise TN_ESTALE (and asks
 * for an asynchronous step-down; it never blocks). Reads only boot time.
 */
int tn_guard_begin(tn_lease *l, tn_nanos action_budget, uint64_t *token);
/* After the action: 0 if the deadline of the term that began it has not
 * passed; TN_ELOST if it has, so the effect may have been fenced and the
 * caller must look at the store's answer. */
int tn_guard_end(tn_lease *l);

/* --- leader loop ---------------------------------------------------- */

typedef enum tn_stepdown_reason {
  TN_STEPDOWN_EXPIRED = 0,   /* the deadline passed (a pause, a slow renewal) */
  TN_STEPDOWN_RENEW_FAILED,  /* the authority refused or could not be reached */
  TN_STEPDOWN_RELEASED,      /* released: by the application or an operator */
  TN_STEPDOWN_PLANNED_PAUSE, /* handed off before a planned pause */
  TN_STEPDOWN_STOPPED,       /* tn_leader_stop */
  /* the authority's state was deleted or replaced under the holder (a
   * lease file removed, or another file moved over it) */
  TN_STEPDOWN_AUTHORITY_REPLACED,
  /* the authority refused its own state: the lease file is damaged
   * (truncated, a record corrupted, not a regular file) */
  TN_STEPDOWN_AUTHORITY_REFUSED
} tn_stepdown_reason;

const char *tn_stepdown_reason_name(tn_stepdown_reason r);

/*
 * The authority's own words for the last failure of an acquire or renewal
 * on this lease (what ended the last term, or why the last campaign
 * failed): copies up to len bytes (NUL-terminated) into buf and returns
 * the TN_E* code, or 0 and "" when the last term ended without a fault
 * (expiry, release, stop). E.g. "authority replaced: /var/lib/app/l.tn was
 * deleted under this holder ...". Any thread; takes the lease's operation
 * lock, so it waits for an acquire or renewal in flight. Meant for
 * on_step_down and logs.
 */
int tn_lease_last_error(tn_lease *l, char *buf, size_t len);

typedef struct tn_leader_callbacks {
  /* Elected with this token; runs on the loop's thread before lead(). */
  void (*on_elected)(uint64_t token, void *arg);
  /* Called repeatedly while leading; uses tn_guard_begin/_end. Return 0 to
   * be called again, non-zero to stop the loop (after stepping down). */
  int (*lead)(tn_lease *l, void *arg);
  /* The term ended. Guards were already refusing before this runs (L2). */
  void (*on_step_down)(tn_stepdown_reason reason, void *arg);
} tn_leader_callbacks;

typedef struct tn_leader tn_leader;

/* Prepare a leader loop for name/identity on a; the lease is owned by the
 * loop. Returns 0, TN_EINVAL, TN_ENOMEM. */
int tn_leader_open(tn_authority *a, const char *name, const char *identity,
                   const tn_lease_options *opts, const tn_leader_callbacks *cb,
                   void *arg, tn_leader **out);
/* Campaign -> lead -> step down, repeated until tn_leader_stop() or lead()
 * asks to stop. Renewal runs on its own thread while leading. Blocks the
 * caller; returns 0 or the error that ended it: TN_ENOSPC when two
 * campaigns in a row could not be recorded for lack of space (the
 * authority's words are in tn_authority_last_error() on the calling thread
 * and in tn_lease_last_error()). Other authority failures are retried. */
int tn_leader_run(tn_leader *ld);
/* Ask the loop to end: steps down (releasing the lease) and makes
 * tn_leader_run return. Any thread; async-signal-safe. */
void tn_leader_stop(tn_leader *ld);
tn_lease *tn_leader_lease(tn_leader *ld);
/* After tn_leader_run returned. */
void tn_leader_close(tn_leader *ld);

/*
 * Pause-aware handoff (design §5.3): a planned pause of expected length
 * `pause` is about to start. Keeps leading if the remaining time exceeds
 * pause + margin; else renews if a renewal would cover the pause; else
 * releases (handoff) and steps down before the pause. Returns which it did:
 */
typedef enum tn_pause_decision {
  TN_PAUSE_KEEP = 0,
  TN_PAUSE_RENEWED,
  TN_PAUSE_HANDED_OFF,
  TN_PAUSE_NOT_LEADER
} tn_pause_decision;
tn_pause_decision tn_lease_prepare_for_pause(tn_lease *l, tn_nanos pause);

/*
 * Let the collector governor's planned-collection announcements drive the
 * decision above: on each announcement the lease calls
 * tn_lease_prepare_for_pause with the expected pause, then lets the
 * collection go ahead. The decision may cost one round trip to the
 * authority (a renewal or a release) on the governor's thread. Call
 * tn_lease_unfollow_collections before closing the lease or the governor.
 * Returns 0, or the governor's subscription error (TN_EBUSY when full).
 */
int tn_lease_follow_collections(tn_lease *l, tn_gcgov *g);
int tn_lease_unfollow_collections(tn_lease *l, tn_gcgov *g);
/* How many announcements led to each decision, for tests and telemetry. */
uint64_t tn_lease_pause_decisions(const tn_lease *l, tn_pause_decision d);

#ifdef __cplusplus
}
#endif

#endif
