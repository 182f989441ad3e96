/* A program outside the tree, built against the installed tenure. */
#include <tenure/fence.h>
#include <tenure/lease.h>
#include <tenure/runtime.h>
#include <tenure/version.h>

#include <stdio.h>
#include <string.h>

int main(void) {
  tn_nanos d = 0;
  if (tn_duration_parse("1.5s", &d, NULL) != 0 || d != 1500 * TN_MSEC)
    return 1;
  if (strcmp(tn_version_string(), TN_VERSION_STRING) != 0)
    return 1;
  printf("consumer linked tenure %s\n", tn_version_string());
  return 0;
}
