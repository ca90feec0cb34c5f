/* Host program for the registry-crate workspace: calls every ext crate's C
 * exports, checks each answer, prints what it checked, and exits non-zero on
 * any wrong answer. */
#include <inttypes.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ext-compress (flate2, crc32fast) */
uint32_t js_compress_crc32(const uint8_t *data, size_t len);
ptrdiff_t js_compress_deflate(const uint8_t *data, size_t len, uint8_t *out, size_t cap);
ptrdiff_t js_compress_inflate(const uint8_t *data, size_t len, uint8_t *out, size_t cap);
ptrdiff_t js_compress_gzip(const uint8_t *data, size_t len, uint8_t *out, size_t cap);
ptrdiff_t js_compress_gunzip(const uint8_t *data, size_t len, uint8_t *out, size_t cap);
/* ext-native (cc-compiled C, EXT_NATIVE_SCALE at build time) */
int64_t js_native_factor(void);
int64_t js_native_scaled_sum(const int64_t *values, size_t len);
/* ext-json (serde, serde_derive, serde_json) */
int32_t js_json_service_port(const char *json);
ptrdiff_t js_json_normalize(const char *json, char *out, size_t cap);
/* ext-net and ext-timers, both on the shared tokio runtime */
uint64_t js_net_runtime_id(void);
int32_t js_net_write(int64_t len);
int64_t js_net_bytes_written(void);
uint64_t js_timers_runtime_id(void);
void js_timers_set_timeout(void (*cb)(int64_t), int64_t arg, uint64_t ms);
int64_t js_timers_pending(void);
int64_t js_timers_sleep(uint64_t ms);

static int failures;

static void check(int ok, const char *what) {
    printf("%s %s\n", ok ? "ok  " : "FAIL", what);
    if (!ok) failures++;
}

static uint32_t le32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static int64_t timer_sum;
static void on_timer(int64_t arg) { timer_sum += arg; }

static void check_compress(void) {
    check(js_compress_crc32((const uint8_t *)"123456789", 9) == 0xCBF43926u,
          "compress: crc32(\"123456789\") == cbf43926");

    uint8_t plain[1000], packed[1100], back[1100];
    for (size_t i = 0; i < sizeof plain; i++) plain[i] = (uint8_t)("abcabcabd"[i % 9]);
    ptrdiff_t p = js_compress_deflate(plain, sizeof plain, packed, sizeof packed);
    check(p > 0 && p < 100, "compress: deflate shrinks 1000 repetitive bytes below 100");
    ptrdiff_t q = js_compress_inflate(packed, (size_t)p, back, sizeof back);
    check(q == (ptrdiff_t)sizeof plain && memcmp(back, plain, sizeof plain) == 0,
          "compress: inflate(deflate(x)) == x");
    const uint8_t reserved_block[] = {0xff, 0xff, 0xff, 0xff};
    check(js_compress_inflate(reserved_block, sizeof reserved_block, back, sizeof back) == -1,
          "compress: inflate rejects corrupt input");
    check(js_compress_deflate(plain, sizeof plain, packed, 4) == -1,
          "compress: deflate into a 4-byte buffer returns -1");

    ptrdiff_t g = js_compress_gzip(plain, sizeof plain, packed, sizeof packed);
    check(g > 18 && packed[0] == 0x1f && packed[1] == 0x8b && packed[2] == 8,
          "compress: gzip writes a gzip header (1f 8b 08)");
    check(g > 18 && le32(packed + g - 8) == js_compress_crc32(plain, sizeof plain) &&
              le32(packed + g - 4) == sizeof plain,
          "compress: the gzip trailer holds crc32(x) and len(x)");
    q = js_compress_gunzip(packed, (size_t)g, back, sizeof back);
    check(q == (ptrdiff_t)sizeof plain && memcmp(back, plain, sizeof plain) == 0,
          "compress: gunzip(gzip(x)) == x");

    /* printf 'hello, gzip\n' | gzip -n -9 */
    uint8_t gnu[] = {0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x03, 0xcb, 0x48,
                     0xcd, 0xc9, 0xc9, 0xd7, 0x51, 0x48, 0xaf, 0xca, 0x2c, 0xe0, 0x02, 0x00,
                     0x86, 0x1f, 0x82, 0xa4, 0x0c, 0x00, 0x00, 0x00};
    q = js_compress_gunzip(gnu, sizeof gnu, back, sizeof back);
    check(q == 12 && memcmp(back, "hello, gzip\n", 12) == 0, "compress: gunzip reads GNU gzip output");
    gnu[24] ^= 1; /* flip a bit of the stored CRC */
    check(js_compress_gunzip(gnu, sizeof gnu, back, sizeof back) == -1,
          "compress: gunzip rejects a wrong CRC");
}

static void check_native(void) {
    int64_t factor = js_native_factor();
    check(factor > 0, "native: the C and Rust copies of the build-time factor agree");
    const int64_t values[] = {1, 2, 3, 4};
    check(js_native_scaled_sum(values, 4) == 10 * factor, "native: scaled_sum({1,2,3,4}) == 10 * factor (in C)");
    check(js_native_scaled_sum(NULL, 0) == 0, "native: scaled_sum of nothing == 0");
    const char *env = getenv("EXT_NATIVE_SCALE");
    char what[96];
    if (env) {
        snprintf(what, sizeof what, "native: factor %" PRId64 " == EXT_NATIVE_SCALE=%s", factor, env);
        check(factor == strtoll(env, NULL, 10), what);
    } else {
        printf("     native: factor %" PRId64 " (EXT_NATIVE_SCALE unset here; its build default is 3)\n", factor);
    }
}

static void check_json(void) {
    check(js_json_service_port("{\"name\":\"api\",\"port\":8080}") == 8080,
          "json: service_port reads port 8080");
    check(js_json_service_port("{\"name\":\"api\",\"port\":70000}") == -1,
          "json: a port that does not fit u16 is rejected");
    check(js_json_service_port("{\"name\":") == -1, "json: truncated JSON is rejected");
    const char *messy = "{ \"tags\": [\"a\", \"b\"], \"port\": 443, \"extra\": true, \"name\": \"web\" }";
    const char *tidy = "{\"name\":\"web\",\"port\":443,\"tags\":[\"a\",\"b\"]}";
    char out[128];
    ptrdiff_t n = js_json_normalize(messy, out, sizeof out);
    check(n == (ptrdiff_t)strlen(tidy) && strcmp(out, tidy) == 0,
          "json: normalize re-serialises in field order, dropping unknown fields");
    check(js_json_normalize(messy, out, 8) == -1, "json: normalize into an 8-byte buffer returns -1");
}

static void check_shared_runtime(void) {
    check(js_net_runtime_id() != 0 && js_net_runtime_id() == js_timers_runtime_id(),
          "runtime: ext-net and ext-timers see one tokio runtime instance");
    check(js_timers_pending() == 0, "runtime: no task alive at start");
    check(js_net_write(100) == 0 && js_net_write(23) == 0, "runtime: ext-net queues two writes on its channel");
    js_timers_set_timeout(on_timer, 3, 5);
    check(js_timers_pending() == 2, "runtime: ext-timers counts ext-net's writer task and its own timeout");
    check(js_net_bytes_written() == 0 && timer_sum == 0, "runtime: nothing runs until the runtime is driven");
    check(js_timers_sleep(20) >= 20, "runtime: ext-timers drives the runtime for 20 ms");
    check(timer_sum == 3, "runtime: the 5 ms timeout fired");
    check(js_net_bytes_written() == 123, "runtime: the ext-timers pump ran ext-net's writer task (123 bytes)");
    check(js_timers_pending() == 1, "runtime: the timeout finished; ext-net's writer waits on its channel");
    check(js_net_write(7) == 0 && js_timers_sleep(1) >= 1 && js_net_bytes_written() == 130,
          "runtime: a later write reaches the same writer task");
}

int main(void) {
    check_compress();
    check_native();
    check_json();
    check_shared_runtime();
    if (failures) {
        printf("%d check(s) failed\n", failures);
        return 1;
    }
    printf("all checks passed\n");
    return 0;
}
