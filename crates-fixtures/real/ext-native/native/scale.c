/* Native half of ext-native: EXT_NATIVE_SCALE comes from build.rs as a define. */
#include <stddef.h>
#include <stdint.h>

#ifndef EXT_NATIVE_SCALE
#error "build.rs defines EXT_NATIVE_SCALE"
#endif

int64_t ext_native_c_factor(void) { return EXT_NATIVE_SCALE; }

/* EXT_NATIVE_SCALE * (values[0] + ... + values[len - 1]) */
int64_t ext_native_c_scaled_sum(const int64_t *values, size_t len) {
    int64_t sum = 0;
    for (size_t i = 0; i < len; i++) sum += values[i];
    return sum * EXT_NATIVE_SCALE;
}
