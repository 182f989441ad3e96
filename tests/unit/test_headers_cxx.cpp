// Every public header must compile as C++ and link from C++ (extern "C").
#include <tenure/clock.h>
#include <tenure/ctl.h>
#include <tenure/error.h>
#include <tenure/etcd.h>
#include <tenure/fence.h>
#include <tenure/gate.h>
#include <tenure/histogram.h>
#include <tenure/lease.h>
#include <tenure/pausemon.h>
#include <tenure/runtime.h>
#include <tenure/telemetry.h>
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
  if (std::strcmp(tn_pause_cause_name(TN_CAUSE_STOPPED), "stopped") != 0 ||
      std::strcmp(tn_lease_state_name(TN_LEASE_LEADER), "leader") != 0)
    return 1;
  tn_gate *gate = nullptr;
  if (tn_gate_new(&gate) != 0 || !tn_gate_enter(gate))
    return 1;
  tn_gate_exit(gate);
  tn_gate_free(gate);
  std::printf("C++ sees tenure %s\n", tn_version_string());
  return 0;
}
