/* check_gpu_device.c: the CUDA device query. Skips (exit 77, one clear line) where no device
 * exists, unless DELTABENCH_REQUIRE_GPU=1 (make test-gpu), where a missing device fails. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/device.h"
#include "testlib.h"

START_TEST(test_device_properties)
{
    device_info d;
    ck_assert_int_eq(device_query(&d), DB_OK);
    ck_assert_int_gt(strlen(d.name), 0);
    ck_assert_uint_gt(d.mem_bytes, 0);
    ck_assert_int_gt(d.sm_count, 0);
    ck_assert_int_ge(d.cc_major, 7);
}
END_TEST

int main(void)
{
    device_info d;
    db_status s = device_query(&d);
    const char *req = getenv("DELTABENCH_REQUIRE_GPU");
    if (s == DB_ERR_NO_DEVICE) {
        if (req && strcmp(req, "1") == 0) {
            printf("FAIL: make test-gpu needs a CUDA device: %s\n", db_errmsg());
            return EXIT_FAILURE;
        }
        printf("SKIP: GPU tests need a CUDA device: %s\n", db_errmsg());
        return 77;
    }
    printf("device: %s (sm_%d%d, %zu MiB, %d SMs)\n", d.name, d.cc_major, d.cc_minor,
           d.mem_bytes >> 20, d.sm_count);
    Suite *su = suite_create("gpu_device");
    TCase *tc = tcase_create("device");
    tcase_add_test(tc, test_device_properties);
    suite_add_tcase(su, tc);
    return tl_run(su);
}
