/* Fuzz target: pausesim's SPEC parser and generator (tools/pausesim/spec.c).
 * Any input must give either a clean error (a reason, a position inside the
 * input, *out untouched) or a spec that formats and parses back to itself
 * and whose draws keep the distribution's promises: never negative, uniform
 * within [MIN, MAX], Pareto never below SCALE. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "spec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int same_spec(const psim_spec *x, const psim_spec *y) {
  return x->dist == y->dist && x->a == y->a && x->b == y->b &&
         x->shape == y->shape;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char text[1024], back_text[128];
  psim_spec spec, back, sentinel;
  tn_parse_error err = {0, NULL};
  psim_rng rng;
  uint64_t seed = 0;
  int i;

  if (size >= sizeof text)
    return 0;
  memcpy(text, data, size);
  text[size] = '\0';
  memset(&spec, 0x3C, sizeof spec);
  sentinel = spec;
  if (psim_spec_parse(text, &spec, &err) != 0) {
    if (err.reason == NULL || err.pos > strlen(text))
      abort();
    if (memcmp(&spec, &sentinel, sizeof spec) != 0)
      abort();
    return 0;
  }
  if ((size_t)psim_spec_format(&spec, back_text, sizeof back_text) >=
      sizeof back_text)
    abort();
  if (psim_spec_parse(back_text, &back, NULL) != 0 || !same_spec(&spec, &back))
    abort();

  for (i = 0; i < 8 && (size_t)i < size; i++)
    seed = seed << 8 | data[i];
  psim_rng_seed(&rng, seed);
  for (i = 0; i < 64; i++) {
    tn_nanos d = psim_spec_draw(&spec, &rng);
    if (d < 0)
      abort();
    if (spec.dist == PSIM_UNIFORM && (d < spec.a || d > spec.b))
      abort();
    if (spec.dist == PSIM_PARETO && d < spec.a)
      abort();
    if (spec.dist == PSIM_FIXED && d != spec.a)
      abort();
  }
  return 0;
}
