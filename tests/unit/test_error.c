/* Unit tests: the error table (error.h / error.c). */
#include "cu_main.h"

#include <string.h>
#include <tenure/error.h>

static void test_codes_negative_and_distinct(void) {
  static const int codes[] = {
#define XX(name, value, msg) TN_##name,
      TN_ERRNO_MAP(XX)
#undef XX
  };
  size_t n = sizeof codes / sizeof codes[0], i, j;
  CU_ASSERT(n >= 14);
  for (i = 0; i < n; i++) {
    CU_ASSERT(codes[i] < 0);
    for (j = i + 1; j < n; j++)
      CU_ASSERT(codes[i] != codes[j]);
  }
}

static void test_names_match_codes(void) {
  CU_ASSERT_STRING_EQUAL(tn_err_name(TN_ESTALE), "TN_ESTALE");
  CU_ASSERT_STRING_EQUAL(tn_err_name(TN_EFENCED), "TN_EFENCED");
  CU_ASSERT_STRING_EQUAL(tn_err_name(TN_EUNAVAILABLE), "TN_EUNAVAILABLE");
  CU_ASSERT_STRING_EQUAL(tn_err_name(0), "OK");
  CU_ASSERT_STRING_EQUAL(tn_err_name(-9999), "TN_UNKNOWN");
  CU_ASSERT_STRING_EQUAL(tn_err_name(5), "TN_UNKNOWN");
}

static void test_messages(void) {
  CU_ASSERT_STRING_EQUAL(tn_strerror(0), "success");
  CU_ASSERT_STRING_EQUAL(tn_strerror(-9999), "unknown error");
  CU_ASSERT_PTR_NOT_NULL(strstr(tn_strerror(TN_ECORRUPT), "corrupt"));
  /* every code has a message of its own, none is the fallback */
#define XX(name, value, msg)                                                   \
  CU_ASSERT(strcmp(tn_strerror(TN_##name), "unknown error") != 0);             \
  CU_ASSERT(strcmp(tn_err_name(TN_##name), "TN_" #name) == 0);
  TN_ERRNO_MAP(XX)
#undef XX
}

static void test_required_codes_exist(void) {
  /* The codes the rest of tenure and its users rely on. */
  int required[] = {TN_EINVAL,  TN_ENOMEM,   TN_EIO,      TN_ECORRUPT,
                    TN_ETIMEDOUT, TN_ESTALE, TN_ELOST,    TN_EFENCED,
                    TN_EUNSYNCED, TN_EBUSY,  TN_ECLOSED,  TN_EPERM,
                    TN_EPROTO,  TN_EUNAVAILABLE};
  size_t i;
  for (i = 0; i < sizeof required / sizeof required[0]; i++)
    CU_ASSERT(strcmp(tn_err_name(required[i]), "TN_UNKNOWN") != 0);
}

static const tn_cu_test error_tests[] = {
    {"codes are negative and distinct", test_codes_negative_and_distinct},
    {"names match codes", test_names_match_codes},
    {"messages", test_messages},
    {"required codes exist", test_required_codes_exist},
    {NULL, NULL}};

static const tn_cu_suite suites[] = {{"error", error_tests, NULL, NULL},
                                     {NULL, NULL, NULL, NULL}};

int main(void) { return tn_cu_run(suites); }
