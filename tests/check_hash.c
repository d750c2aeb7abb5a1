/* check_hash.c: tests of core/hash: fixed known answers (the hash is recorded in files, so it
 * must never change), streaming in any chunking equals one shot, every length and every bit
 * matters, model hashes ignore tensor order but see names, dtypes, shapes and bytes. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "core/hash.h"
#include "core/rng.h"
#include "testlib.h"

/* Known answers, recorded when the hash was written. */
#define HASH_EMPTY 0xef46db3751d8e999ULL
#define HASH_DELTABENCH 0xb789281058691ceeULL
#define HASH_1000 0xd776e8028586ff61ULL

START_TEST(test_known_answers)
{
    /* recorded once; a change here breaks every stored delta's base check */
    ck_assert_uint_eq(hash_bytes("", 0, 0), HASH_EMPTY);
    ck_assert_uint_eq(hash_bytes("deltabench", 10, 0), HASH_DELTABENCH);
    uint8_t buf[1000];
    for (int i = 0; i < 1000; i++)
        buf[i] = (uint8_t)(i * 7 + 3);
    ck_assert_uint_eq(hash_bytes(buf, sizeof buf, 42), HASH_1000);
    char hx[17];
    hash_hex(0x0123456789abcdefULL, hx);
    ck_assert_str_eq(hx, "0123456789abcdef");
    uint64_t v;
    ck_assert_int_eq(hash_parse_hex(hx, &v), 0);
    ck_assert_uint_eq(v, 0x0123456789abcdefULL);
    ck_assert_int_ne(hash_parse_hex("0123456789abcdeX", &v), 0);
    ck_assert_int_ne(hash_parse_hex("0123", &v), 0);
    ck_assert_int_ne(hash_parse_hex("0123456789abcdef0", &v), 0);
}
END_TEST

START_TEST(test_streaming_equals_oneshot)
{
    uint8_t buf[777];
    db_rng r;
    rng_seed(&r, 1);
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (uint8_t)rng_u32(&r);
    for (size_t n = 0; n <= sizeof buf; n += 1 + n / 8) {
        uint64_t want = hash_bytes(buf, n, 9);
        for (size_t chunk = 1; chunk <= 70; chunk += 3) {
            hash_state h;
            hash_init(&h, 9);
            for (size_t o = 0; o < n; o += chunk)
                hash_update(&h, buf + o, n - o < chunk ? n - o : chunk);
            ck_assert_uint_eq(hash_final(&h), want);
        }
    }
}
END_TEST

START_TEST(test_every_bit_and_length_matters)
{
    uint8_t buf[300] = {0};
    uint64_t seen[301];
    for (size_t n = 0; n <= 300; n++) { /* all-zero inputs of every length differ */
        seen[n] = hash_bytes(buf, n, 0);
        for (size_t j = 0; j < n; j++)
            ck_assert_uint_ne(seen[n], seen[j]);
    }
    uint64_t h0 = hash_bytes(buf, sizeof buf, 0);
    for (size_t i = 0; i < sizeof buf; i += 7)
        for (int b = 0; b < 8; b++) {
            buf[i] ^= (uint8_t)(1 << b);
            uint64_t h = hash_bytes(buf, sizeof buf, 0);
            buf[i] ^= (uint8_t)(1 << b);
            ck_assert_uint_ne(h, h0);
            /* avalanche: roughly half the output bits change */
            int flips = __builtin_popcountll(h ^ h0);
            ck_assert_int_gt(flips, 12);
            ck_assert_int_lt(flips, 52);
        }
    ck_assert_uint_ne(hash_bytes(buf, 10, 0), hash_bytes(buf, 10, 1)); /* the seed matters */
}
END_TEST

START_TEST(test_model_hash)
{
    uint64_t c1 = hash_bytes("a", 1, 0), c2 = hash_bytes("b", 1, 0);
    hash_tensor_entry e[2] = {{"x", 1, 2, {3, 4}, c1}, {"y", 1, 1, {12}, c2}};
    hash_tensor_entry f[2] = {e[1], e[0]};
    uint64_t h = hash_model_entries(e, 2);
    ck_assert_uint_eq(hash_model_entries(f, 2), h); /* order does not matter */
    hash_tensor_entry g[2] = {{"x", 1, 2, {4, 3}, c1}, {"y", 1, 1, {12}, c2}};
    ck_assert_uint_ne(hash_model_entries(g, 2), h); /* shape */
    hash_tensor_entry k[2] = {{"x", 2, 2, {3, 4}, c1}, {"y", 1, 1, {12}, c2}};
    ck_assert_uint_ne(hash_model_entries(k, 2), h); /* dtype */
    hash_tensor_entry l[2] = {{"z", 1, 2, {3, 4}, c1}, {"y", 1, 1, {12}, c2}};
    ck_assert_uint_ne(hash_model_entries(l, 2), h); /* name */
    hash_tensor_entry m[2] = {{"x", 1, 2, {3, 4}, c2}, {"y", 1, 1, {12}, c2}};
    ck_assert_uint_ne(hash_model_entries(m, 2), h); /* bytes */
}
END_TEST

static Suite *hash_suite(void)
{
    Suite *s = suite_create("hash");
    TCase *tc = tcase_create("hash");
    tcase_add_test(tc, test_known_answers);
    tcase_add_test(tc, test_streaming_equals_oneshot);
    tcase_add_test(tc, test_every_bit_and_length_matters);
    tcase_add_test(tc, test_model_hash);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tl_run(hash_suite());
}
