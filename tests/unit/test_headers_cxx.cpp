// Every public header must compile as C++ and link from C++ (extern "C").
#include <tenure/clock.h>
#include <tenure/error.h>
#include <tenure/version.h>

#include <cstdio>
#include <cstring>

int main() {
  tn_nanos d = 0;
  if (tn_duration_parse("1.5s", &d, nullptr) != 0 || d != 1500 * TN_MSEC)
    return 1;
  if (std::strcmp(tn_err_name(TN_ESTALE), "TN_ESTALE") != 0)
    return 1;
  if (std::strcmp(tn_version_string(), TN_VERSION_STRING) != 0)
    return 1;
  std::printf("C++ sees tenure %s\n", tn_version_string());
  return 0;
}
