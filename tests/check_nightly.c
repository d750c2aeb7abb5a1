/* check_nightly.c: the nightly regression rule and history (harness/nightly.h).
 *
 * The acceptance case first: an injected 20 % slowdown in a metric with a 3 % wobble is
 * flagged, but only once two consecutive runs show it, and the 3 % wobble alone never is. Then
 * the edges: short history, zero MAD, higher/lower/none directions, tight and exact kinds, a new
 * metric, a metric no longer measured, several machines, noise wide enough that the MAD gate
 * holds a 20 % step back; the history file (round trip, corrupt and foreign files, NaN), the
 * metrics file parser, the dashboard (page, plots, relative links, nothing left on failure) and
 * allocation failures. */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <hdf5.h>

#include "core/alloc.h"
#include "core/fsutil.h"
#include "core/status.h"
#include "harness/nightly.h"
#include "core/results.h"
#include "testlib.h"

/* ---- helpers ------------------------------------------------------------------------------- */

/* Deterministic wobble in [-1, 1] (a small LCG: the test must not depend on rand()). */
static double wobble(uint64_t *s)
{
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return ((double)(*s >> 11) / (double)(1ULL << 53)) * 2.0 - 1.0;
}

static nt_row mkrow(int64_t run, const char *machine, const char *metric, double value,
                    const char *direction, const char *kind)
{
    nt_row r;
    memset(&r, 0, sizeof r);
    r.run = run;
    snprintf(r.date, sizeof r.date, "2026-01-%02lldT02:00:00Z", (long long)(run % 28 + 1));
    snprintf(r.commit, sizeof r.commit, "c%lld", (long long)run);
    snprintf(r.machine, sizeof r.machine, "%s", machine);
    snprintf(r.metric, sizeof r.metric, "%s", metric);
    r.value = value;
    snprintf(r.unit, sizeof r.unit, "s");
    snprintf(r.direction, sizeof r.direction, "%s", direction);
    snprintf(r.kind, sizeof r.kind, "%s", kind);
    r.repeats = 5;
    r.spread = 0.01;
    snprintf(r.source, sizeof r.source, "results/nightly/run%lld/k.h5", (long long)run);
    return r;
}

static void push(nt_history *h, int64_t run, const char *metric, double value,
                 const char *direction, const char *kind)
{
    nt_row r = mkrow(run, "m1", metric, value, direction, kind);
    ck_assert_int_eq(nt_history_push(h, &r), DB_OK);
}

/* The verdict on `metric` (fails the test when absent). */
static nt_verdict verdict_of(const nt_history *h, const nt_rule *rule, const char *machine,
                             const char *metric)
{
    nt_verdict *v = NULL, out;
    size_t n = 0;
    ck_assert_int_eq(nt_check(h, machine, rule, &v, &n), DB_OK);
    for (size_t i = 0; i < n; i++)
        if (!strcmp(h->rows[v[i].last].metric, metric)) {
            out = v[i];
            db_free(v);
            return out;
        }
    db_free(v);
    ck_abort_msg("no verdict for %s", metric);
    return out;
}

static nt_state state_of(const nt_history *h, const char *metric)
{
    nt_rule rule;
    nt_rule_defaults(&rule);
    return verdict_of(h, &rule, NULL, metric).state;
}

/* A perf series: n runs of 1.0 with a `wob` relative wobble, then `step` (relative) from run
 * step_at on. */
static void series(nt_history *h, const char *metric, const char *dir, int n, double wob,
                   int step_at, double step, uint64_t seed)
{
    for (int i = 1; i <= n; i++) {
        double x = 1.0 + wob * wobble(&seed);
        if (step_at > 0 && i >= step_at)
            x *= 1.0 + step;
        push(h, i, metric, x, dir, "perf");
    }
}

/* ---- the rule ------------------------------------------------------------------------------ */

START_TEST(test_slowdown_20_confirmed)
{
    nt_history h = {0};
    /* 14 runs with a 3 % wobble, then a 20 % slowdown: one slow run is only a suspect */
    series(&h, "kernel/gemv_s", "lower", 15, 0.03, 15, 0.20, 7);
    ck_assert_int_eq(state_of(&h, "kernel/gemv_s"), NT_SUSPECT);
    /* the second slow run confirms it; "since" is the first slow run, "good" the one before */
    push(&h, 16, "kernel/gemv_s", 1.2, "lower", "perf");
    nt_rule rule;
    nt_rule_defaults(&rule);
    nt_verdict v = verdict_of(&h, &rule, NULL, "kernel/gemv_s");
    ck_assert_int_eq(v.state, NT_REGRESSION);
    ck_assert_int_eq(h.rows[v.since].run, 15);
    ck_assert_int_eq(h.rows[v.good].run, 14);
    ck_assert_str_eq(h.rows[v.since].commit, "c15");
    ck_assert(v.change > 0.15 && v.change < 0.25);
    ck_assert_int_eq((int)v.nbase, 10);
    /* with --confirm 3 it is still a suspect */
    rule.confirm = 3;
    ck_assert_int_eq(verdict_of(&h, &rule, NULL, "kernel/gemv_s").state, NT_SUSPECT);
    nt_history_free(&h);
}
END_TEST

START_TEST(test_wobble_3_never_flagged)
{
    /* every prefix of a 60-run 3 % wobble, several seeds: never suspect, never a regression */
    for (uint64_t seed = 1; seed <= 5; seed++) {
        nt_history h = {0};
        uint64_t s = seed;
        for (int i = 1; i <= 60; i++) {
            push(&h, i, "kernel/gemv_s", 1.0 + 0.03 * wobble(&s), "lower", "perf");
            nt_state st = state_of(&h, "kernel/gemv_s");
            ck_assert_msg(st != NT_REGRESSION && st != NT_SUSPECT, "seed %llu run %d: %s",
                          (unsigned long long)seed, i, nt_state_str(st));
        }
        nt_history_free(&h);
    }
}
END_TEST

START_TEST(test_regression_persists_then_absorbed)
{
    /* a lasting slowdown stays a regression until the rolling median has absorbed it */
    nt_history h = {0};
    series(&h, "sim/speed", "lower", 30, 0.02, 13, 0.25, 3);
    ck_assert_int_eq(state_of(&h, "sim/speed"), NT_OK);
    nt_history_free(&h);
    nt_history g = {0};
    series(&g, "sim/speed", "lower", 16, 0.02, 13, 0.25, 3);
    nt_rule rule;
    nt_rule_defaults(&rule);
    nt_verdict v = verdict_of(&g, &rule, NULL, "sim/speed");
    ck_assert_int_eq(v.state, NT_REGRESSION);
    ck_assert_int_eq(g.rows[v.since].run, 13);
    nt_history_free(&g);
}
END_TEST

START_TEST(test_direction_higher)
{
    nt_history h = {0};
    series(&h, "kernel/gbs", "higher", 12, 0.03, 11, -0.20, 11);
    ck_assert_int_eq(state_of(&h, "kernel/gbs"), NT_REGRESSION);
    nt_history_free(&h);
    nt_history g = {0};
    series(&g, "kernel/gbs", "higher", 12, 0.03, 11, +0.20, 11);
    ck_assert_int_eq(state_of(&g, "kernel/gbs"), NT_IMPROVED);
    nt_history_free(&g);
    nt_history l = {0};
    series(&l, "kernel/s", "lower", 12, 0.03, 11, -0.20, 11);
    ck_assert_int_eq(state_of(&l, "kernel/s"), NT_IMPROVED);
    nt_history_free(&l);
}
END_TEST

START_TEST(test_short_history_and_new)
{
    nt_history h = {0};
    push(&h, 1, "trace/gen_s", 1.0, "lower", "perf");
    ck_assert_int_eq(state_of(&h, "trace/gen_s"), NT_NEW);
    push(&h, 2, "trace/gen_s", 1.0, "lower", "perf");
    push(&h, 3, "trace/gen_s", 1.0, "lower", "perf");
    push(&h, 4, "trace/gen_s", 2.0, "lower", "perf");
    push(&h, 5, "trace/gen_s", 2.0, "lower", "perf");
    /* 3 earlier runs < min_history 5: no judgement, even of a doubling */
    ck_assert_int_eq(state_of(&h, "trace/gen_s"), NT_SHORT);
    nt_rule rule;
    nt_rule_defaults(&rule);
    rule.min_history = 3;
    /* run 5 is judged (4 before it) but run 4 (3 before it) is too, so it confirms */
    ck_assert_int_eq(verdict_of(&h, &rule, NULL, "trace/gen_s").state, NT_REGRESSION);
    rule.min_history = 4;
    ck_assert_int_eq(verdict_of(&h, &rule, NULL, "trace/gen_s").state, NT_SUSPECT);
    nt_history_free(&h);
}
END_TEST

START_TEST(test_zero_mad)
{
    /* a constant series has MAD 0: the relative threshold alone decides */
    nt_history h = {0};
    for (int i = 1; i <= 10; i++)
        push(&h, i, "compress/s", 2.0, "lower", "perf");
    push(&h, 11, "compress/s", 2.1, "lower", "perf"); /* +5 % < 10 % */
    push(&h, 12, "compress/s", 2.1, "lower", "perf");
    ck_assert_int_eq(state_of(&h, "compress/s"), NT_OK);
    nt_history_free(&h);
    nt_history g = {0};
    for (int i = 1; i <= 10; i++)
        push(&g, i, "compress/s", 2.0, "lower", "perf");
    push(&g, 11, "compress/s", 2.4, "lower", "perf");
    ck_assert_int_eq(state_of(&g, "compress/s"), NT_SUSPECT);
    push(&g, 12, "compress/s", 2.4, "lower", "perf");
    ck_assert_int_eq(state_of(&g, "compress/s"), NT_REGRESSION);
    nt_history_free(&g);
    /* a zero baseline: any worsening exceeds rel * 0 and k * 0 */
    nt_history z = {0};
    for (int i = 1; i <= 8; i++)
        push(&z, i, "sim/errors", 0.0, "lower", "perf");
    push(&z, 9, "sim/errors", 1.0, "lower", "perf");
    push(&z, 10, "sim/errors", 1.0, "lower", "perf");
    nt_rule rule;
    nt_rule_defaults(&rule);
    nt_verdict v = verdict_of(&z, &rule, NULL, "sim/errors");
    ck_assert_int_eq(v.state, NT_REGRESSION);
    ck_assert(isnan(v.change));
    nt_history_free(&z);
}
END_TEST

START_TEST(test_noise_gate)
{
    /* The k-sigma gate in numbers, over 40 seeds: a 20 % step in a 3 % wobble is confirmed every
     * time; in a 15 % wobble (robust sigma ~ 11 %, 3 sigma ~ 33 %) it mostly is not. */
    int quiet_noise = 0, loud_noise = 0;
    for (uint64_t seed = 1; seed <= 40; seed++) {
        nt_history h = {0}, g = {0};
        series(&h, "kernel/s", "lower", 22, 0.03, 21, 0.20, seed);
        series(&g, "kernel/s", "lower", 22, 0.15, 21, 0.20, seed);
        quiet_noise += state_of(&h, "kernel/s") == NT_REGRESSION;
        loud_noise += state_of(&g, "kernel/s") == NT_REGRESSION;
        nt_history_free(&h);
        nt_history_free(&g);
    }
    ck_assert_int_eq(quiet_noise, 40);
    ck_assert_msg(loud_noise <= 8, "15 %% noise: %d of 40 confirmed", loud_noise);
    /* deterministic: alternating 0.9 / 1.1 has MAD 0.1, 3 sigma 0.445: a 30 % step passes the
     * relative threshold but not the gate; k = 0 drops the gate */
    nt_history g = {0};
    for (int i = 1; i <= 20; i++)
        push(&g, i, "kernel/noisy_s", i % 2 ? 0.9 : 1.1, "lower", "perf");
    push(&g, 21, "kernel/noisy_s", 1.3, "lower", "perf");
    push(&g, 22, "kernel/noisy_s", 1.3, "lower", "perf");
    ck_assert_int_eq(state_of(&g, "kernel/noisy_s"), NT_OK);
    nt_rule rule;
    nt_rule_defaults(&rule);
    rule.k = 0;
    ck_assert_int_eq(verdict_of(&g, &rule, NULL, "kernel/noisy_s").state, NT_REGRESSION);
    nt_history_free(&g);
}
END_TEST

START_TEST(test_exact_and_tight)
{
    /* exact: deterministic, so one worse point is a regression; a better one is an improvement */
    nt_history h = {0};
    for (int i = 1; i <= 3; i++)
        push(&h, i, "compress/ratio", 5.683480939545629, "higher", "exact");
    ck_assert_int_eq(state_of(&h, "compress/ratio"), NT_OK);
    push(&h, 4, "compress/ratio", 5.683480939545628, "higher", "exact");
    nt_rule rule;
    nt_rule_defaults(&rule);
    nt_verdict v = verdict_of(&h, &rule, NULL, "compress/ratio");
    ck_assert_int_eq(v.state, NT_REGRESSION);
    ck_assert_int_eq(h.rows[v.since].run, 4);
    nt_history_free(&h);
    nt_history g = {0};
    push(&g, 1, "compress/ratio", 5.0, "higher", "exact");
    push(&g, 2, "compress/ratio", 5.1, "higher", "exact");
    ck_assert_int_eq(state_of(&g, "compress/ratio"), NT_IMPROVED);
    nt_history_free(&g);
    /* none: any change counts, either way */
    nt_history n = {0};
    push(&n, 1, "sim/mean_e2e", 3.25, "none", "exact");
    push(&n, 2, "sim/mean_e2e", 3.0, "none", "exact");
    ck_assert_int_eq(state_of(&n, "sim/mean_e2e"), NT_REGRESSION);
    nt_history_free(&n);
    /* tight: 0.05 % passes, 0.2 % fails at once */
    nt_history t = {0};
    push(&t, 1, "quality/bpb", 2.0, "lower", "tight");
    push(&t, 2, "quality/bpb", 2.001, "lower", "tight");
    ck_assert_int_eq(state_of(&t, "quality/bpb"), NT_OK);
    push(&t, 3, "quality/bpb", 2.004, "lower", "tight");
    ck_assert_int_eq(state_of(&t, "quality/bpb"), NT_REGRESSION);
    nt_history_free(&t);
}
END_TEST

START_TEST(test_new_and_stale_metrics_and_machines)
{
    nt_history h = {0};
    for (int i = 1; i <= 8; i++) {
        push(&h, i, "kernel/a_s", 1.0, "lower", "perf");
        if (i < 8)
            push(&h, i, "kernel/old_s", 1.0, "lower", "perf");
        nt_row r = mkrow(i, "m2", "kernel/a_s", i >= 7 ? 3.0 : 1.0, "lower", "perf");
        ck_assert_int_eq(nt_history_push(&h, &r), DB_OK);
    }
    push(&h, 8, "kernel/b_s", 1.0, "lower", "perf");
    nt_rule rule;
    nt_rule_defaults(&rule);
    /* the latest row is machine m1's: its series only */
    ck_assert_int_eq(verdict_of(&h, &rule, NULL, "kernel/a_s").state, NT_OK);
    ck_assert_int_eq(verdict_of(&h, &rule, NULL, "kernel/b_s").state, NT_NEW);
    ck_assert_int_eq(verdict_of(&h, &rule, NULL, "kernel/old_s").state, NT_STALE);
    ck_assert_int_eq(verdict_of(&h, &rule, "m2", "kernel/a_s").state, NT_REGRESSION);
    /* regressions sort first */
    nt_verdict *v = NULL;
    size_t n = 0;
    ck_assert_int_eq(nt_check(&h, "m1", &rule, &v, &n), DB_OK);
    ck_assert_uint_eq(n, 3);
    ck_assert_int_eq(v[0].state, NT_OK);
    db_free(v);
    ck_assert_int_eq(nt_check(&h, "nowhere", &rule, &v, &n), DB_ERR_NOT_FOUND);
    ck_assert_ptr_nonnull(strstr(db_errmsg(), "nowhere"));
    nt_history empty = {0};
    ck_assert_int_eq(nt_check(&empty, NULL, &rule, &v, &n), DB_ERR_NOT_FOUND);
    rule.window = 0;
    ck_assert_int_eq(nt_check(&h, NULL, &rule, &v, &n), DB_ERR_ARG);
    nt_history_free(&h);
}
END_TEST

START_TEST(test_row_checks)
{
    nt_history h = {0};
    nt_row r = mkrow(1, "m1", "kernel/x", NAN, "lower", "perf");
    ck_assert_int_eq(nt_history_push(&h, &r), DB_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(db_errmsg(), "not finite"));
    r = mkrow(1, "m1", "kernel/x", 1, "down", "perf");
    ck_assert_int_eq(nt_history_push(&h, &r), DB_ERR_FORMAT);
    r = mkrow(1, "m1", "kernel/x", 1, "lower", "fast");
    ck_assert_int_eq(nt_history_push(&h, &r), DB_ERR_FORMAT);
    r = mkrow(1, "", "kernel/x", 1, "lower", "perf");
    ck_assert_int_eq(nt_history_push(&h, &r), DB_ERR_FORMAT);
    r = mkrow(2, "m1", "kernel/x", 1, "lower", "perf");
    ck_assert_int_eq(nt_history_push(&h, &r), DB_OK);
    r = mkrow(1, "m1", "kernel/x", 1, "lower", "perf");
    ck_assert_int_eq(nt_history_push(&h, &r), DB_ERR_ARG); /* runs never go back */
    ck_assert_uint_eq(h.n, 1);
    nt_history_free(&h);
    nt_history_free(NULL);
}
END_TEST

/* ---- files --------------------------------------------------------------------------------- */

START_TEST(test_history_roundtrip_and_corrupt)
{
    tl_scratch_make("check_nightly");
    char path[512], bad[512];
    tl_path_buf(path, sizeof path, "history.h5");
    nt_history h = {0}, g;
    ck_assert_int_eq(nt_history_load(path, 1, &g), DB_OK); /* missing + allowed: empty */
    ck_assert_uint_eq(g.n, 0);
    ck_assert_int_eq(nt_history_load(path, 0, &g), DB_ERR_IO);
    ck_assert_ptr_nonnull(strstr(db_errmsg(), path));
    series(&h, "kernel/a_s", "lower", 7, 0.03, 0, 0, 1);
    push(&h, 7, "compress/ratio", 2.5, "higher", "exact");
    char *argv[] = {"test", NULL};
    res_run_info info = {.argc = 1, .argv = argv, .seed = 0};
    ck_assert_int_eq(nt_history_save(path, &h, &info), DB_OK);
    ck_assert_int_eq(nt_history_load(path, 0, &g), DB_OK);
    ck_assert_uint_eq(g.n, h.n);
    ck_assert_int_eq(memcmp(g.rows, h.rows, h.n * sizeof *h.rows) == 0 ? 0 : 1, 0);
    ck_assert_int_eq(nt_history_last_run(&g), 7);
    nt_history_free(&g);

    /* not HDF5; truncated HDF5; an HDF5 file without the table; a table lacking a column */
    tl_path_buf(bad, sizeof bad, "text.h5");
    tl_write_text(bad, "run,value\n1,2\n");
    ck_assert_int_eq(nt_history_load(bad, 0, &g), DB_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(db_errmsg(), bad));
    char *bytes = NULL;
    size_t len = 0;
    ck_assert_int_eq(fs_read_all(path, &bytes, &len), DB_OK);
    tl_path_buf(bad, sizeof bad, "cut.h5");
    FILE *f = fopen(bad, "wb");
    fwrite(bytes, 1, len / 3, f);
    fclose(f);
    db_free(bytes);
    ck_assert_int_ne(nt_history_load(bad, 0, &g), DB_OK);
    ck_assert_ptr_nonnull(strstr(db_errmsg(), bad));
    typedef struct {
        int64_t run;
        double value;
    } small_row;
    static const res_field small_fields[] = {RES_I64(small_row, run), RES_F64(small_row, value)};
    static const res_schema other = RES_SCHEMA("other", "t", small_row, small_fields);
    static const res_schema fake = RES_SCHEMA("history", "t", small_row, small_fields);
    small_row sr = {1, 2.0};
    const res_schema *schemas[] = {&other, &fake};
    const char *want[] = {"no 'history' table", "lacks column 'date'"};
    for (int i = 0; i < 2; i++) {
        res_file *rf;
        tl_path_buf(bad, sizeof bad, i ? "foreign1.h5" : "foreign0.h5");
        ck_assert_int_eq(res_create(bad, &info, &rf), DB_OK);
        ck_assert_int_eq(res_table_write(rf, schemas[i], 1, &sr), DB_OK);
        ck_assert_int_eq(res_commit(rf), DB_OK);
        ck_assert_int_eq(nt_history_load(bad, 0, &g), DB_ERR_FORMAT);
        ck_assert_msg(strstr(db_errmsg(), want[i]) && strstr(db_errmsg(), bad), "%s",
                      db_errmsg());
    }
    /* a NaN written into the file by someone else is caught on load */
    h.rows[3].value = NAN;
    res_file *rf;
    tl_path_buf(bad, sizeof bad, "nan.h5");
    ck_assert_int_eq(res_create(bad, &info, &rf), DB_OK);
    ck_assert_int_eq(res_table_write(rf, &nt_history_schema, h.n, h.rows), DB_OK);
    ck_assert_int_eq(res_commit(rf), DB_OK);
    ck_assert_int_eq(nt_history_load(bad, 0, &g), DB_ERR_FORMAT);
    ck_assert_msg(strstr(db_errmsg(), "row 4") && strstr(db_errmsg(), "not finite"), "%s",
                  db_errmsg());
    nt_history_free(&h);
    tl_scratch_drop();
}
END_TEST

START_TEST(test_metrics_parse)
{
    tl_scratch_make("check_nightly");
    char path[512];
    tl_path_buf(path, sizeof path, "m.tsv");
    tl_write_text(path, "# comment\n\nkernel/a_s\t1.5e-3\ts\tlower\tperf\t20\t0.05\tres/k.h5\n"
                     "compress/ratio\t2.5\tx\thigher\texact\t1\t0\t\r\n");
    nt_row *rows = NULL;
    size_t n = 0;
    ck_assert_int_eq(nt_metrics_parse(path, &rows, &n), DB_OK);
    ck_assert_uint_eq(n, 2);
    ck_assert_str_eq(rows[0].metric, "kernel/a_s");
    ck_assert(rows[0].value == 1.5e-3);
    ck_assert_int_eq(rows[0].repeats, 20);
    ck_assert_str_eq(rows[0].source, "res/k.h5");
    ck_assert_str_eq(rows[1].source, "");
    db_free(rows);
    static const struct {
        const char *text, *want;
    } bad[] = {
        {"kernel/a_s\tnan\ts\tlower\tperf\t1\t0\tx\n", ":1: kernel/a_s: value 'nan'"},
        {"kernel/a_s\t1\ts\tlower\tperf\t1\t0\n", ":1: expected 8"},
        {"kernel/a_s\t1\ts\tup\tperf\t1\t0\tx\n", "direction 'up'"},
        {"kernel/a_s\t1\ts\tlower\tperf\t0\t0\tx\n", "repeats 0"},
        {"kernel/a_s\t1\ts\tlower\tperf\t1\t-1\tx\n", "spread"},
        {"a_s\t1\ts\tlower\tperf\t1\t0\tx\n", "not GROUP/NAME"},
        {"k/a\t1\ts\tlower\tperf\t1\t0\tx\n#\nk/a\t2\ts\tlower\tperf\t1\t0\tx\n", ":3: metric 'k/a' listed twice"},
        {"# nothing\n", "no metrics"},
        {"k/a\t1e999\ts\tlower\tperf\t1\t0\tx\n", "not a finite number"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        tl_write_text(path, bad[i].text);
        ck_assert_int_eq(nt_metrics_parse(path, &rows, &n), DB_ERR_FORMAT);
        ck_assert_ptr_null(rows);
        ck_assert_msg(strstr(db_errmsg(), bad[i].want) && strstr(db_errmsg(), path),
                      "case %zu: %s", i, db_errmsg());
    }
    tl_scratch_drop();
}
END_TEST

START_TEST(test_dashboard)
{
    tl_scratch_make("check_nightly");
    nt_history h = {0};
    uint64_t seed = 9;
    for (int i = 1; i <= 12; i++) {
        push(&h, i, "kernel/gemv_s", (i >= 11 ? 1.2 : 1.0) + 0.03 * wobble(&seed), "lower",
             "perf");
        push(&h, i, "compress/ratio", 2.5, "higher", "exact");
    }
    /* a name that needs escaping */
    push(&h, 12, "sim/<b>&x", 1.0, "lower", "perf");
    nt_rule rule;
    nt_rule_defaults(&rule);
    nt_verdict *v = NULL;
    size_t n = 0;
    ck_assert_int_eq(nt_check(&h, NULL, &rule, &v, &n), DB_OK);
    char dir[512], page[600], svg[600];
    tl_path_buf(dir, sizeof dir, "out/dash");
    nt_dash_opts o = {.history_path = "results/nightly/history.h5", .plot_runs = 60};

    /* a gnuplot that fails: an error naming the script, no page */
    o.gnuplot = "false";
    ck_assert_int_eq(nt_dashboard_write(&h, v, n, &rule, dir, &o), DB_ERR_IO);
    ck_assert_ptr_nonnull(strstr(db_errmsg(), "gnuplot failed"));
    snprintf(page, sizeof page, "%s/index.html", dir);
    ck_assert_int_ne(access(page, F_OK), 0);

    o.gnuplot = NULL;
    ck_assert_int_eq(nt_dashboard_write(&h, v, n, &rule, dir, &o), DB_OK);
    char *html = NULL;
    size_t len = 0;
    ck_assert_int_eq(fs_read_all(page, &html, &len), DB_OK);
    ck_assert_ptr_nonnull(strstr(html, "<table id=\"metrics\">"));
    ck_assert_ptr_nonnull(strstr(html, "1 confirmed regression"));
    /* regressions first: the regressed metric's row precedes the others */
    char *reg = strstr(html, "<tr class=\"regression\">"), *ok = strstr(html, "<tr class=\"ok\">");
    ck_assert(reg && ok && reg < ok);
    ck_assert_ptr_nonnull(strstr(html, "since commit <code>c11</code>"));
    ck_assert_ptr_nonnull(strstr(html, "sim/&lt;b&gt;&amp;x"));
    ck_assert_ptr_null(strstr(html, "<b>&x"));
    ck_assert_ptr_nonnull(strstr(html, "src=\"plots/kernel.svg\""));
    ck_assert_ptr_nonnull(strstr(html, "src=\"plots/compress.svg\""));
    ck_assert_ptr_nonnull(strstr(html, "<svg class=\"spark\""));
    ck_assert_ptr_null(strstr(html, "http://"));
    ck_assert_ptr_null(strstr(html, "https://"));
    /* source links are relative to the dashboard directory (the sources are cwd-relative) */
    ck_assert_ptr_nonnull(strstr(html, "run12/k.h5\">k.h5</a>"));
    ck_assert_ptr_nonnull(strstr(html, "href=\"../"));
    db_free(html);
    const char *groups[] = {"kernel", "compress", "sim"};
    for (int i = 0; i < 3; i++) {
        snprintf(svg, sizeof svg, "%s/plots/%s.svg", dir, groups[i]);
        ck_assert_int_eq(fs_read_all(svg, &html, &len), DB_OK);
        ck_assert_ptr_nonnull(strstr(html, "<svg"));
        ck_assert_ptr_nonnull(strstr(html, "</svg>"));
        db_free(html);
    }
    snprintf(svg, sizeof svg, "%s/plots", dir);
    int ntmp;
    tl_dir_entries(dir, &ntmp);
    ck_assert_int_eq(ntmp, 0);
    tl_dir_entries(svg, &ntmp);
    ck_assert_int_eq(ntmp, 0);
    db_free(v);
    nt_history_free(&h);
    tl_scratch_drop();
}
END_TEST

START_TEST(test_alloc_failures)
{
    nt_history h = {0};
    uint64_t seed = 1;
    for (int i = 1; i <= 12; i++) {
        push(&h, i, "kernel/a_s", (i >= 11 ? 1.2 : 1.0) + 0.03 * wobble(&seed), "lower", "perf");
        push(&h, i, "kernel/b_s", 1.0 + 0.03 * wobble(&seed), "lower", "perf");
    }
    nt_rule rule;
    nt_rule_defaults(&rule);
    int failures = 0;
    for (long k = 1; k < 200; k++) {
        nt_verdict *v = NULL;
        size_t n = 0;
        db_alloc_fail_at(k, 0);
        db_status st = nt_check(&h, NULL, &rule, &v, &n);
        db_alloc_fail_at(0, 0);
        if (st == DB_OK) {
            db_free(v);
            break;
        }
        ck_assert_int_eq(st, DB_ERR_NOMEM);
        ck_assert_ptr_null(v);
        failures++;
    }
    ck_assert_int_gt(failures, 2);
    nt_history_free(&h);
}
END_TEST

static Suite *nightly_suite(void)
{
    Suite *s = suite_create("nightly");
    TCase *tc = tcase_create("rule");
    tcase_add_test(tc, test_slowdown_20_confirmed);
    tcase_add_test(tc, test_wobble_3_never_flagged);
    tcase_add_test(tc, test_regression_persists_then_absorbed);
    tcase_add_test(tc, test_direction_higher);
    tcase_add_test(tc, test_short_history_and_new);
    tcase_add_test(tc, test_zero_mad);
    tcase_add_test(tc, test_noise_gate);
    tcase_add_test(tc, test_exact_and_tight);
    tcase_add_test(tc, test_new_and_stale_metrics_and_machines);
    tcase_add_test(tc, test_row_checks);
    tcase_add_test(tc, test_alloc_failures);
    suite_add_tcase(s, tc);
    tc = tcase_create("files");
    tcase_add_test(tc, test_history_roundtrip_and_corrupt);
    tcase_add_test(tc, test_metrics_parse);
    tcase_add_test(tc, test_dashboard);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    return tl_run(nightly_suite());
}
