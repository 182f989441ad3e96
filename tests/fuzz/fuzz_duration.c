/* Fuzz target: tn_duration_parse / tn_duration_format. Any input must give
 * either a clean error with a position inside the input, or a value that
 * formats and parses back to itself. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <tenure/clock.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char text[512], back_text[64];
  tn_nanos d = -1, back = -1;
  tn_parse_error err = {0, NULL};
  if (size >= sizeof text)
    return 0;
  memcpy(text, data, size);
  text[size] = '\0';
  if (tn_duration_parse(text, &d, &err) != 0) {
    if (err.reason == NULL || err.pos > strlen(text))
      abort();
    return 0;
  }
  if (d < 0)
    abort();
  tn_duration_format(d, back_text, sizeof back_text);
  if (tn_duration_parse(back_text, &back, NULL) != 0 || back != d)
    abort();
  return 0;
}
