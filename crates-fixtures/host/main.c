/* Host program: calls every ext crate's C exports, checks each answer, prints
 * what it checked, and exits non-zero on any wrong answer. */
#include <inttypes.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* ext-zlib */
uint32_t js_zlib_crc32(const uint8_t *data, size_t len);
uint32_t js_zlib_adler32(const uint8_t *data, size_t len);
ptrdiff_t js_zlib_deflate(const uint8_t *data, size_t len, uint8_t *out, size_t cap);
ptrdiff_t js_zlib_inflate(const uint8_t *data, size_t len, uint8_t *out, size_t cap);
/* ext-hash */
uint64_t js_hash_fnv1a64(const char *s);
uint64_t js_hash_next_id(void);
int32_t js_hash_to_hex(uint64_t value, char *out);
/* ext-events */
typedef void (*listener_fn)(int64_t payload, void *user);
int64_t js_events_emitter_new(void);
int64_t js_events_on(int64_t h, const char *event, listener_fn cb, void *user);
int64_t js_events_emit(int64_t h, const char *event, int64_t payload);
int64_t js_events_listener_count(int64_t h, const char *event);
int32_t js_events_emitter_free(int64_t h);
/* ext-net and ext-timers, both on the shared runtime */
uint64_t js_net_runtime_id(void);
int32_t js_net_register(const char *name, int64_t value);
void js_net_write_later(int64_t len, uint64_t delay);
int64_t js_net_bytes_written(void);
uint64_t js_timers_runtime_id(void);
int32_t js_timers_lookup(const char *name, int64_t *out);
void js_timers_set_timeout(void (*cb)(int64_t), int64_t arg, uint64_t delay);
int64_t js_timers_pending(void);
int64_t js_timers_advance(uint64_t ticks);

static int failures;

static void check(int ok, const char *what) {
    printf("%s %s\n", ok ? "ok  " : "FAIL", what);
    if (!ok) failures++;
}

static void add_payload(int64_t payload, void *user) { *(int64_t *)user += payload; }
static void double_payload(int64_t payload, void *user) { *(int64_t *)user += 2 * payload; }

static int64_t timer_sum;
static void on_timer(int64_t arg) { timer_sum += arg; }

static void check_zlib(void) {
    const uint8_t digits[] = "123456789";
    check(js_zlib_crc32(digits, 9) == 0xCBF43926u, "zlib: crc32(\"123456789\") == cbf43926");
    check(js_zlib_adler32((const uint8_t *)"Wikipedia", 9) == 0x11E60398u,
          "zlib: adler32(\"Wikipedia\") == 11e60398");
    const uint8_t plain[] = "aaaaaaaaaabbbbbbbbbbbbcdddddddddddddddddddd";
    size_t n = sizeof plain - 1;
    uint8_t packed[128], back[128];
    ptrdiff_t p = js_zlib_deflate(plain, n, packed, sizeof packed);
    check(p > 0 && (size_t)p < n, "zlib: deflate shrinks a run-heavy input");
    ptrdiff_t q = js_zlib_inflate(packed, (size_t)p, back, sizeof back);
    check(q == (ptrdiff_t)n && memcmp(back, plain, n) == 0, "zlib: inflate(deflate(x)) == x");
    check(js_zlib_inflate(packed, 1, back, sizeof back) == -1, "zlib: inflate rejects corrupt input");
}

static void check_hash(void) {
    check(js_hash_fnv1a64("") == 0xcbf29ce484222325ull, "hash: fnv1a64(\"\") == offset basis");
    check(js_hash_fnv1a64("a") == 0xaf63dc4c8601ec8cull, "hash: fnv1a64(\"a\") == af63dc4c8601ec8c");
    uint64_t a = js_hash_next_id(), b = js_hash_next_id();
    check(b == a + 1, "hash: next_id increases by one");
    char hex[17];
    check(js_hash_to_hex(0xdeadbeefull, hex) == 0 && strcmp(hex, "00000000deadbeef") == 0,
          "hash: to_hex(deadbeef) == 00000000deadbeef");
}

static void check_events(void) {
    int64_t h = js_events_emitter_new(), total = 0;
    check(h >= 1, "events: emitter_new returns a handle");
    js_events_on(h, "data", add_payload, &total);
    check(js_events_on(h, "data", double_payload, &total) == 2, "events: two listeners on 'data'");
    check(js_events_listener_count(h, "end") == 0, "events: no listeners on 'end'");
    check(js_events_emit(h, "data", 7) == 2 && total == 21, "events: emit('data', 7) runs both listeners (7 + 14)");
    check(js_events_emitter_free(h) == 0 && js_events_emit(h, "data", 1) == -1,
          "events: a freed emitter rejects emit");
}

static void check_shared_runtime(void) {
    check(js_net_runtime_id() != 0 && js_net_runtime_id() == js_timers_runtime_id(),
          "runtime: ext-net and ext-timers see one runtime instance");
    int64_t value = 0;
    check(js_net_register("answer", 42) == 0 && js_timers_lookup("answer", &value) == 1 && value == 42,
          "runtime: a value registered through ext-net is read back through ext-timers");
    js_net_write_later(100, 5);
    js_timers_set_timeout(on_timer, 3, 2);
    check(js_timers_pending() == 2, "runtime: ext-timers sees the task ext-net queued");
    check(js_timers_advance(2) == 1 && timer_sum == 3 && js_net_bytes_written() == 0,
          "runtime: advancing 2 ticks runs only the timer");
    check(js_timers_advance(3) == 1 && js_net_bytes_written() == 100,
          "runtime: the ext-timers pump completes ext-net's write");
}

int main(void) {
    check_zlib();
    check_hash();
    check_events();
    check_shared_runtime();
    if (failures) {
        printf("%d check(s) failed\n", failures);
        return 1;
    }
    printf("all checks passed\n");
    return 0;
}
