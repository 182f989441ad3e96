/*
 * tenure version. CMake reads TN_VERSION_{MAJOR,MINOR,PATCH} from this file,
 * so it is the one place the version is written.
 */
#ifndef TENURE_VERSION_H
#define TENURE_VERSION_H

#define TN_VERSION_MAJOR 0
#define TN_VERSION_MINOR 1
#define TN_VERSION_PATCH 0

#define TN__STR2(x) #x
#define TN__STR(x) TN__STR2(x)
#define TN_VERSION_STRING                                                      \
  TN__STR(TN_VERSION_MAJOR) "." TN__STR(TN_VERSION_MINOR) "." TN__STR(        \
      TN_VERSION_PATCH)

#ifdef __cplusplus
extern "C" {
#endif

/* The version of the library actually linked, which may differ from the
 * header a program was compiled against. Never fails, never blocks. */
const char *tn_version_string(void);

#ifdef __cplusplus
}
#endif

#endif
