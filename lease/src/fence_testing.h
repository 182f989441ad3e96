/*
 * Test-only: make the fence's state write fail at a chosen step, the way a
 * full disk or a failing device would, so tests can check that the previous
 * state survives, no temporary file is left and the next admit works.
 * Never installed.
 *
 * Only a library compiled with TN_TESTING (tenure_lease_testing) has the
 * hook; the release library has no way to fail on purpose.
 */
#ifndef TENURE_FENCE_TESTING_H
#define TENURE_FENCE_TESTING_H

/* The steps of one state write, in order. */
enum {
  TN__FENCE_STEP_NONE = 0,
  TN__FENCE_STEP_WRITE,   /* writing PATH.tmp: half the bytes, then ENOSPC */
  TN__FENCE_STEP_FSYNC,   /* fsync of PATH.tmp: EIO */
  TN__FENCE_STEP_RENAME,  /* rename PATH.tmp -> PATH: EIO, nothing renamed */
  TN__FENCE_STEP_DIRSYNC  /* fsync of the directory after the rename: EIO */
};

#ifdef TN_TESTING
/* Fail the next state write (in any handle of this process) at step; the
 * hook then disarms itself. TN__FENCE_STEP_NONE disarms it. Thread-safe. */
void tn__fence_fail_next(int step);
#endif

#endif
