/* A component of another world than `action`: the hot-swap test's file that
 * must be refused while the running version stays. */

#include <string.h>

#include "wrong.h"

void exports_wrong_hello(wrong_string_t *ret) {
  wrong_string_dup(ret, "hello");
}
