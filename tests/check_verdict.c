/* check_verdict.c: verdict rules as data (harness/verdict.h) on crafted tables: pass, fail,
 * tie (an interval straddling the threshold), tiers tried in order, division by a reference
 * column, row selectors, and every malformed input (a missing column or row, a non-number, a
 * bad CSV line) as an error, never a silent pass. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/verdict.h"
#include "testlib.h"

static vd_table *table(const char *text)
{
    vd_table *t = NULL;
    db_status s = vd_table_parse("t.csv", text, strlen(text), &t);
    ck_assert_msg(s == DB_OK, "parse: %s", db_errmsg());
    return t;
}

static vd_outcome eval(const char *text, vd_rule r)
{
    vd_table *t = table(text);
    vd_result res;
    db_status s = vd_eval(t, &r, &res);
    ck_assert_msg(s == DB_OK, "eval: %s", db_errmsg());
    vd_table_free(t);
    return res.outcome;
}

static const char *SPEED = "op,speedup,lo,hi\nsbmm,1.30,1.10,1.50\nbitdelta,1.05,0.95,1.20\n"
                           "dense,0.80,0.70,0.90\n";

/* requires: a column each row must fill (a flag, not a divisor): an empty cell fails the row */
START_TEST(test_requires)
{
    const char *tbl = "name,diff,diff_lo,diff_hi,at16\narith,0.10,0.05,0.15,0.42\n"
                      "qa,0.20,0.10,0.30,\n";
    vd_rule r = {"DQ-1", "reproduced", NULL, "diff", NULL, "diff_lo", "diff_hi", "name",
                 VD_AT_LEAST, -0.02, 0, "x", "at16"};
    ck_assert_int_eq(eval(tbl, r), VD_FAIL); /* qa did not reach the setting */
    vd_table *t = table(tbl);
    vd_result res;
    ck_assert_int_eq(vd_eval(t, &r, &res), DB_OK);
    /* the value is diff itself: the flag divides nothing */
    ck_assert_str_eq(res.values, "arith 0.1 [0.05, 0.15], qa (no at16)");
    vd_table_free(t);
    r.where = "name=arith";
    ck_assert_int_eq(eval(tbl, r), VD_PASS);
    char buf[256];
    vd_rule_str(&r, buf, sizeof buf);
    ck_assert_str_eq(buf, "reproduced: diff at least -0.02, its whole interval (rows name=arith), "
                          "each row with at16");
    r.requires = "missing"; /* a column the table lacks is an error, never a pass */
    t = table(tbl);
    ck_assert_int_eq(vd_eval(t, &r, &res), DB_ERR_FORMAT);
    vd_table_free(t);
}
END_TEST

START_TEST(test_points)
{
    const char *tbl = "shape,method,ratio,paper\n7b,bitdelta,13.5,13.6\n13b,bitdelta,13.7,13.6\n"
                      "7b,deltazip,9.0,\n";
    vd_rule r = {"BD-2", "reproduced in trend", "method=bitdelta", "ratio", NULL, NULL, NULL, NULL,
                 VD_AT_LEAST, 10, 0, "x"};
    ck_assert_int_eq(eval(tbl, r), VD_PASS);
    r.a = 13.6; /* one row under: fail */
    ck_assert_int_eq(eval(tbl, r), VD_FAIL);
    r = (vd_rule){"BD-2", "reproduced", "method=bitdelta", "ratio", "paper", NULL, NULL, NULL, VD_WITHIN,
                  0.98, 1.02, "x"};
    ck_assert_int_eq(eval(tbl, r), VD_PASS);
    r.b = 1.005; /* 13.7 / 13.6 = 1.0074 */
    ck_assert_int_eq(eval(tbl, r), VD_FAIL);
    r.where = "method=deltazip", r.b = 10; /* no paper value in the row: fails, no error */
    ck_assert_int_eq(eval(tbl, r), VD_FAIL);
    /* the verdict line's values: each row named by the label column, both sides of a division */
    vd_table *t = table(tbl);
    vd_result res;
    r.where = NULL, r.label = "shape";
    ck_assert_int_eq(vd_eval(t, &r, &res), DB_OK);
    ck_assert_str_eq(res.values, "7b 13.5 / 13.6 = 0.9926, 13b 13.7 / 13.6 = 1.007, 7b (no paper)");
    vd_table_free(t);
    r = (vd_rule){"X", "ok", "shape=7b;method=deltazip", "ratio", NULL, NULL, NULL, NULL, VD_AT_MOST,
                  9.0, 0, "x"};
    ck_assert_int_eq(eval(tbl, r), VD_PASS); /* at most is inclusive */
}
END_TEST

START_TEST(test_intervals)
{
    vd_rule r = {"DZ-6", "reproduced", "op=sbmm", "speedup", NULL, "lo", "hi", "op", VD_AT_LEAST, 1,
                 0, "x"};
    ck_assert_int_eq(eval(SPEED, r), VD_PASS); /* [1.10, 1.50] above 1 */
    r.where = "op=bitdelta";
    ck_assert_int_eq(eval(SPEED, r), VD_TIE); /* [0.95, 1.20] straddles 1 */
    r.where = "op=dense";
    ck_assert_int_eq(eval(SPEED, r), VD_FAIL); /* [0.70, 0.90] below */
    r.where = NULL;                            /* every row: one fails */
    ck_assert_int_eq(eval(SPEED, r), VD_FAIL);
    r.where = "op=sbmm", r.cmp = VD_AT_MOST, r.a = 1.2;
    ck_assert_int_eq(eval(SPEED, r), VD_TIE);
    r.cmp = VD_WITHIN, r.a = 1.0, r.b = 1.6;
    ck_assert_int_eq(eval(SPEED, r), VD_PASS);
    r.a = 1.6, r.b = 2.0;
    ck_assert_int_eq(eval(SPEED, r), VD_FAIL);
}
END_TEST

START_TEST(test_tiers_and_line)
{
    const vd_rule rules[] = {
        {"DZ-6", "reproduced", "op=sbmm", "speedup", NULL, "lo", "hi", NULL, VD_AT_LEAST, 1.4, 0,
         "the paper reports 1.4x"},
        {"DZ-6", "reproduced in trend", "op=sbmm", "speedup", NULL, "lo", "hi", NULL, VD_AT_LEAST, 1.0,
         0, "faster than the baseline at all"},
        {"BD-3", "reproduced", "op=bitdelta", "speedup", NULL, "lo", "hi", NULL, VD_AT_LEAST, 1.0, 0,
         "faster"},
        {"Z-1", "reproduced", "op=dense", "speedup", NULL, "lo", "hi", NULL, VD_AT_LEAST, 1.0, 0, "f"},
    };
    vd_table *t = table(SPEED);
    char *buf = NULL;
    size_t n = 0;
    FILE *m = open_memstream(&buf, &n);
    char v[96];
    /* first tier ties ([1.10, 1.50] vs 1.4), the second passes: in trend, the tie named */
    ck_assert_int_eq(vd_decide(t, rules, 4, "DZ-6", m, v, sizeof v), DB_OK);
    ck_assert_str_eq(v, "reproduced in trend");
    ck_assert_int_eq(vd_decide(t, rules, 4, "BD-3", m, v, sizeof v), DB_OK);
    ck_assert_str_eq(v, "not reproduced here"); /* a speed-up whose interval includes 1 */
    ck_assert_int_eq(vd_decide(t, rules, 4, "Z-1", m, v, sizeof v), DB_OK);
    ck_assert_str_eq(v, "not reproduced");
    ck_assert_int_eq(vd_decide(t, rules, 4, "NOPE", m, v, sizeof v), DB_ERR_ARG);
    fclose(m);
    ck_assert_ptr_nonnull(strstr(buf, "**Verdict DZ-6**: reproduced in trend: 1.3 [1.1, 1.5] (rule "
                                      "2; rule 1 not decided: its interval straddles the "
                                      "threshold). Rules"));
    /* only a tie, no pass: not reproduced here, the straddling rule named */
    ck_assert_ptr_nonnull(strstr(buf, "**Verdict BD-3**: not reproduced here: 1.05 [0.95, 1.2] "
                                      "(rule 1: its interval straddles the threshold). Rules"));
    ck_assert_ptr_nonnull(strstr(buf, "otherwise not reproduced, or not reproduced here when an "
                                      "interval straddles its threshold.\n\n"));
    ck_assert_ptr_nonnull(strstr(buf, "(1) reproduced: speedup at least 1.4, its whole interval "
                                      "(rows op=sbmm), because the paper reports 1.4x;"));
    ck_assert_ptr_nonnull(strstr(buf, "1.3 [1.1, 1.5]"));
    free(buf);
    /* a lower first tier: the first rule that passes gives the verdict */
    const vd_rule tiers[] = {
        {"T", "reproduced", "op=sbmm", "speedup", NULL, NULL, NULL, NULL, VD_AT_LEAST, 1.4, 0, "a"},
        {"T", "reproduced in trend", "op=sbmm", "speedup", NULL, NULL, NULL, NULL, VD_AT_LEAST, 1.0, 0, "b"},
    };
    m = open_memstream(&buf, &n);
    ck_assert_int_eq(vd_decide(t, tiers, 2, "T", m, v, sizeof v), DB_OK);
    ck_assert_str_eq(v, "reproduced in trend");
    fclose(m);
    free(buf);
    vd_table_free(t);
}
END_TEST

START_TEST(test_errors_never_pass)
{
    vd_table *t = table(SPEED);
    vd_result res;
    vd_rule r = {"C", "reproduced", NULL, "no_such_column", NULL, NULL, NULL, NULL, VD_AT_LEAST, 0, 0, "x"};
    ck_assert_int_eq(vd_eval(t, &r, &res), DB_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(db_errmsg(), "t.csv: no column 'no_such_column'"));
    r.column = "speedup", r.where = "model=x"; /* selector column missing */
    ck_assert_int_eq(vd_eval(t, &r, &res), DB_ERR_FORMAT);
    r.where = "op=nothing"; /* no row */
    ck_assert_int_eq(vd_eval(t, &r, &res), DB_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(db_errmsg(), "no row matches"));
    r.where = "op"; /* malformed selector */
    ck_assert_int_eq(vd_eval(t, &r, &res), DB_ERR_ARG);
    r.where = NULL, r.per = "op"; /* a non-number */
    ck_assert_int_eq(vd_eval(t, &r, &res), DB_ERR_FORMAT);
    r.per = NULL, r.lo = "lo"; /* half an interval */
    ck_assert_int_eq(vd_eval(t, &r, &res), DB_ERR_ARG);
    vd_table_free(t);

    t = table("a,b\n1,\n");
    r = (vd_rule){"C", "ok", NULL, "b", NULL, NULL, NULL, NULL, VD_AT_LEAST, 0, 0, "x"};
    ck_assert_int_eq(vd_eval(t, &r, &res), DB_ERR_FORMAT); /* an empty cell is not 0 */
    vd_table_free(t);
    t = table("a,b\nnan,1\n");
    r.column = "a";
    ck_assert_int_eq(vd_eval(t, &r, &res), DB_ERR_FORMAT);
    vd_table_free(t);

    const char *bad[] = {"", "a,b\n1,2,3\n", "a,b\n1\n", "a,b\n\"1,2\n"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        vd_table *x = NULL;
        ck_assert_msg(vd_table_parse("bad.csv", bad[i], strlen(bad[i]), &x) == DB_ERR_FORMAT,
                      "bad table %zu parsed", i);
        ck_assert_ptr_null(x);
        ck_assert_ptr_nonnull(strstr(db_errmsg(), "bad.csv:"));
    }
    ck_assert_int_eq(vd_table_read("/nonexistent/x.csv", &t), DB_ERR_IO);
}
END_TEST

START_TEST(test_quoted_csv)
{
    vd_table *t = table("label,v\r\n\"DeltaDQ 16x, \"\"ours\"\"\",2.5\r\n\r\nplain,3\r\n");
    vd_rule r = {"C", "ok", "label=DeltaDQ 16x, \"ours\"", "v", NULL, NULL, NULL, NULL, VD_WITHIN, 2.5,
                 2.5, "x"};
    vd_result res;
    ck_assert_int_eq(vd_eval(t, &r, &res), DB_OK);
    ck_assert_int_eq(res.outcome, VD_PASS);
    ck_assert_int_eq(res.rows, 1);
    r.where = "label=plain";
    ck_assert_int_eq(vd_eval(t, &r, &res), DB_OK);
    ck_assert_int_eq(res.outcome, VD_FAIL);
    vd_table_free(t);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("verdict");
    TCase *tc = tcase_create("verdict");
    tcase_add_test(tc, test_points);
    tcase_add_test(tc, test_requires);
    tcase_add_test(tc, test_intervals);
    tcase_add_test(tc, test_tiers_and_line);
    tcase_add_test(tc, test_errors_never_pass);
    tcase_add_test(tc, test_quoted_csv);
    suite_add_tcase(s, tc);
    return tl_run(s);
}
