/*
 * Shared CUnit runner for the unit tests. A test file defines its suites in
 * one table and calls tn_cu_run(); the exit status is non-zero when any
 * assertion failed, so ctest sees it.
 */
#ifndef TENURE_CU_MAIN_H
#define TENURE_CU_MAIN_H

#include <CUnit/Basic.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct tn_cu_test {
  const char *name;
  void (*fn)(void);
} tn_cu_test;

typedef struct tn_cu_suite {
  const char *name;
  const tn_cu_test *tests; /* ends with {NULL, NULL} */
  int (*init)(void);
  int (*cleanup)(void);
} tn_cu_suite;

static inline int tn_cu_run(const tn_cu_suite *suites) {
  unsigned failed;
  if (CU_initialize_registry() != CUE_SUCCESS)
    return 2;
  for (; suites->name; suites++) {
    CU_pSuite s = CU_add_suite(suites->name, suites->init, suites->cleanup);
    const tn_cu_test *t;
    if (s == NULL)
      return 2;
    for (t = suites->tests; t->name; t++)
      if (CU_add_test(s, t->name, t->fn) == NULL)
        return 2;
  }
  CU_basic_set_mode(CU_BRM_VERBOSE);
  CU_basic_run_tests();
  failed = CU_get_number_of_failures() + CU_get_number_of_suites_failed() +
           CU_get_number_of_tests_failed();
  CU_cleanup_registry();
  return failed ? 1 : 0;
}

#endif
