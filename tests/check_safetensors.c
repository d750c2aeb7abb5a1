/* check_safetensors.c: tests of core/safetensors (reader, streaming writer, sharded checkpoints)
 * and core/llama_names.
 *
 * Corrupt files are written byte by byte here rather than produced by the writer, so every
 * rejection path of the reader is reached; each asserts the status and that the one-line message
 * names the file and the problem. Every test gets a fresh directory from mkdtemp. */
#define _GNU_SOURCE
#include <check.h>
#include <dirent.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/llama_names.h"
#include "core/rng.h"
#include "core/safetensors.h"
#include "core/status.h"
#include "core/tensor.h"
#include "testlib.h"

/* ---- fixture and helpers ------------------------------------------------------------------- */

static void setup(void) { tl_scratch_make("check_st"); }

static void teardown(void) { tl_scratch_drop(); }

/* A raw safetensors file: u64 length `hlen` (not necessarily the true one), the header text, then
 * `dlen` data bytes (i & 0xFF). */
static void write_raw_len(const char *path, uint64_t hlen, const char *hdr, size_t hn, size_t dlen)
{
    size_t n = 8 + hn + dlen;
    unsigned char *b = malloc(n);
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)(hlen >> (8 * i));
    memcpy(b + 8, hdr, hn);
    for (size_t i = 0; i < dlen; i++)
        b[8 + hn + i] = (unsigned char)i;
    tl_write(path, b, n);
    free(b);
}

static void write_raw(const char *path, const char *hdr, size_t dlen)
{
    write_raw_len(path, strlen(hdr), hdr, strlen(hdr), dlen);
}

/* st_open must fail with `want`, leave *out NULL, and say path and phrase on one line. */
static void expect_open_fail(const char *label, const char *path, db_status want,
                             const char *phrase)
{
    st_file *f = (st_file *)1;
    db_error_clear();
    db_status s = st_open(path, &f);
    const char *msg = db_errmsg();
    ck_assert_msg(s == want, "%s: status %s, want %s (%s)", label, db_status_str(s),
                  db_status_str(want), msg);
    ck_assert_msg(f == NULL, "%s: *out not NULL on failure", label);
    ck_assert_msg(strstr(msg, path), "%s: message lacks the path: %s", label, msg);
    ck_assert_msg(strstr(msg, phrase), "%s: message lacks \"%s\": %s", label, phrase, msg);
    ck_assert_msg(!strchr(msg, '\n'), "%s: message spans lines: %s", label, msg);
}

typedef struct {
    const char *label, *header;
    size_t dlen;
    const char *phrase;
} corrupt_case;

static void run_corrupt(const corrupt_case *c, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const char *p = tl_path("bad.safetensors");
        write_raw(p, c[i].header, c[i].dlen);
        expect_open_fail(c[i].label, p, DB_ERR_FORMAT, c[i].phrase);
    }
}

static void expect_open_ok(const char *label, const char *hdr, size_t dlen)
{
    const char *p = tl_path("ok.safetensors");
    write_raw(p, hdr, dlen);
    st_file *f = NULL;
    db_status s = st_open(p, &f);
    ck_assert_msg(s == DB_OK, "%s: %s", label, db_errmsg());
    st_close(f);
}

static void fill_random(db_rng *r, void *p, size_t n)
{
    unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        b[i] = (unsigned char)rng_u32(r);
}

/* ---- round trips --------------------------------------------------------------------------- */

START_TEST(test_roundtrip_all_dtypes)
{
    db_rng r;
    rng_seed(&r, 1);
    db_tensor t[DT_COUNT];
    const char *names[DT_COUNT];
    char namebuf[DT_COUNT][32];
    for (int d = 0; d < DT_COUNT; d++) {
        int64_t shape[3] = {1 + d % 3, 5, 1 + d};
        ck_assert_int_eq(tensor_alloc(&t[d], (db_dtype)d, 1 + d % 3, shape), DB_OK);
        fill_random(&r, t[d].data, tensor_nbytes(&t[d]));
        snprintf(namebuf[d], sizeof namebuf[d], "t.%s", dtype_name((db_dtype)d));
        names[d] = namebuf[d];
    }
    const char *keys[] = {"format", "method", "quote\"and\\slash", "unicode"};
    const char *vals[] = {"pt", "bitdelta", "tab\there\nnewline", "\xc3\xa9t\xc3\xa9 \xe2\x82\xac"};
    const char *p = tl_path("all.safetensors");
    ck_assert_int_eq(st_save(p, DT_COUNT, names, t, 4, keys, vals), DB_OK);

    st_file *f;
    ck_assert_int_eq(st_open(p, &f), DB_OK);
    ck_assert_str_eq(st_path(f), p);
    ck_assert_uint_eq(st_count(f), DT_COUNT);
    struct stat sb;
    ck_assert_int_eq(stat(p, &sb), 0);
    ck_assert_uint_eq(st_file_bytes(f), (size_t)sb.st_size);
    ck_assert_uint_eq((8 + st_header_bytes(f)) % 8, 0);
    for (int d = 0; d < DT_COUNT; d++) {
        const st_tensor_info *ti = st_find(f, names[d]);
        ck_assert_ptr_nonnull(ti);
        ck_assert_str_eq(ti->name, names[d]);
        ck_assert_int_eq(ti->dtype, d);
        ck_assert_int_eq(ti->ndim, t[d].ndim);
        for (int i = 0; i < ti->ndim; i++)
            ck_assert_int_eq(ti->shape[i], t[d].shape[i]);
        ck_assert_uint_eq(ti->nbytes, tensor_nbytes(&t[d]));
        ck_assert_mem_eq(ti->data, t[d].data, ti->nbytes);
    }
    ck_assert_ptr_null(st_find(f, "t.missing"));
    ck_assert_ptr_null(st_find(f, ""));
    ck_assert_ptr_null(st_get(f, DT_COUNT));
    ck_assert_uint_eq(st_meta_count(f), 4);
    for (size_t i = 0; i < 4; i++) {
        ck_assert_str_eq(st_meta_key(f, i), keys[i]);
        ck_assert_str_eq(st_meta_value(f, i), vals[i]);
        ck_assert_str_eq(st_meta_get(f, keys[i]), vals[i]);
    }
    ck_assert_ptr_null(st_meta_get(f, "absent"));
    ck_assert_ptr_null(st_meta_key(f, 4));
    st_close(f);
    for (int d = 0; d < DT_COUNT; d++)
        tensor_free(&t[d]);
}
END_TEST

START_TEST(test_scalar_and_zero_size)
{
    float scalar = 3.5f;
    int64_t s0[1] = {0}, s1[3] = {3, 0, 2}, s2[1] = {2};
    uint16_t half[2] = {0x3C00, 0xC000};
    db_tensor t[4];
    ck_assert_int_eq(tensor_view(&t[0], DT_F32, 0, NULL, &scalar), DB_OK);
    ck_assert_int_eq(tensor_view(&t[1], DT_F64, 1, s0, NULL), DB_OK);
    ck_assert_int_eq(tensor_view(&t[2], DT_I32, 3, s1, NULL), DB_OK);
    ck_assert_int_eq(tensor_view(&t[3], DT_F16, 1, s2, half), DB_OK);
    const char *names[] = {"scalar", "empty", "empty3", "half"};
    const char *p = tl_path("z.safetensors");
    ck_assert_int_eq(st_save(p, 4, names, t, 0, NULL, NULL), DB_OK);
    st_file *f;
    ck_assert_int_eq(st_open(p, &f), DB_OK);
    ck_assert_uint_eq(st_count(f), 4);
    const st_tensor_info *sc = st_find(f, "scalar");
    ck_assert_int_eq(sc->ndim, 0);
    ck_assert_uint_eq(sc->nbytes, 4);
    ck_assert_mem_eq(sc->data, &scalar, 4);
    ck_assert_uint_eq(st_find(f, "empty")->nbytes, 0);
    ck_assert_int_eq(st_find(f, "empty3")->ndim, 3);
    ck_assert_int_eq(st_find(f, "empty3")->shape[1], 0);
    ck_assert_mem_eq(st_find(f, "half")->data, half, 4);
    ck_assert_uint_eq(st_meta_count(f), 0);
    st_close(f);

    /* A hand-written scalar and a header with odd but valid spacing, extra fields, an unaligned
     * data area and an empty metadata object. */
    expect_open_ok("scalar", "{\"s\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]}}", 4);
    expect_open_ok("spacing", " \n{ \"s\" : {\"data_offsets\":[0,4],\"shape\":[1],\"dtype\":\"I32\","
                              "\"extra\":{\"x\":[1]}} , \"__metadata__\":{}}\n\t  ",
                   4);
    expect_open_ok("8 dims", "{\"s\":{\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,1,1,2],"
                             "\"data_offsets\":[0,2]}}",
                   2);
}
END_TEST

START_TEST(test_empty_data_area)
{
    /* Files whose data area is empty: no tensors, metadata only, zero-size tensors only. */
    const char *p = tl_path("none.safetensors");
    ck_assert_int_eq(st_save(p, 0, NULL, NULL, 0, NULL, NULL), DB_OK);
    st_file *f;
    ck_assert_int_eq(st_open(p, &f), DB_OK);
    ck_assert_uint_eq(st_count(f), 0);
    ck_assert_ptr_null(st_find(f, "x"));
    ck_assert_uint_eq(st_file_bytes(f), 8 + st_header_bytes(f));
    st_close(f);

    const char *k = "only", *v = "metadata";
    ck_assert_int_eq(st_save(p, 0, NULL, NULL, 1, &k, &v), DB_OK);
    ck_assert_int_eq(st_open(p, &f), DB_OK);
    ck_assert_str_eq(st_meta_get(f, "only"), "metadata");
    st_close(f);

    int64_t shape[2] = {0, 7};
    db_tensor t;
    ck_assert_int_eq(tensor_view(&t, DT_BF16, 2, shape, NULL), DB_OK);
    const char *name = "nothing";
    ck_assert_int_eq(st_save(p, 1, &name, &t, 0, NULL, NULL), DB_OK);
    ck_assert_int_eq(st_open(p, &f), DB_OK);
    ck_assert_uint_eq(st_count(f), 1);
    ck_assert_uint_eq(st_file_bytes(f), 8 + st_header_bytes(f));
    db_tensor view;
    ck_assert_int_eq(st_view(st_get(f, 0), &view), DB_OK);
    ck_assert_int_eq(tensor_numel(&view), 0);
    st_close(f);

    expect_open_ok("bare {}", "{}", 0);
}
END_TEST

START_TEST(test_streaming_chunks)
{
    /* Declared in mixed dtype order; due in descending element size, stable; each written in
     * random chunks (some empty), one tensor larger than the writer's buffer. */
    static const struct {
        const char *name;
        db_dtype dt;
        int64_t n;
    } spec[] = {
        {"a.u8", DT_U8, 1001},  {"b.f32", DT_F32, 777},  {"c.f16", DT_F16, 333},
        {"d.f64", DT_F64, 100}, {"e.big", DT_F32, 900000}, {"f.bool", DT_BOOL, 3},
        {"g.i64", DT_I64, 5},   {"h.bf16", DT_BF16, 4},  {"i.none", DT_I16, 0},
    };
    const char *due_order[] = {"d.f64", "g.i64", "b.f32", "e.big", "c.f16", "h.bf16",
                               "a.u8",  "f.bool"};
    enum { NS = sizeof spec / sizeof spec[0] };
    db_rng r;
    rng_seed(&r, 7);
    unsigned char *data[NS];
    const char *p = tl_path("stream.safetensors");
    st_writer *w;
    ck_assert_int_eq(st_writer_open(p, &w), DB_OK);
    ck_assert_int_eq(st_writer_meta(w, "k", "v"), DB_OK);
    for (int i = 0; i < NS; i++) {
        size_t nb = (size_t)spec[i].n * dtype_size(spec[i].dt);
        data[i] = malloc(nb ? nb : 1);
        fill_random(&r, data[i], nb);
        ck_assert_int_eq(st_writer_declare(w, spec[i].name, spec[i].dt, 1, &spec[i].n), DB_OK);
    }
    ck_assert_ptr_null(st_writer_next(w));
    ck_assert_int_eq(st_writer_begin(w), DB_OK);
    size_t k = 0;
    const char *name;
    while ((name = st_writer_next(w))) {
        ck_assert_uint_lt(k, 8);
        ck_assert_str_eq(name, due_order[k]);
        int i = 0;
        while (strcmp(spec[i].name, name))
            i++;
        size_t nb = (size_t)spec[i].n * dtype_size(spec[i].dt), done = 0;
        while (done < nb) {
            size_t most = nb - done > 300000 ? 300000 : nb - done;
            size_t c = (size_t)rng_below(&r, most + 1);
            if (i == 4 && done == 0)
                c = (size_t)3 << 19; /* one write larger than the 1 MiB buffer */
            ck_assert_int_eq(st_writer_write(w, data[i] + done, c), DB_OK);
            done += c;
            if (done < nb)
                ck_assert_str_eq(st_writer_next(w), name);
        }
        k++;
    }
    ck_assert_uint_eq(k, 8);
    ck_assert_int_eq(st_writer_finish(w), DB_OK);
    ck_assert_int_eq(tl_dir_entries(tl_dir, NULL), 1);

    st_file *f;
    ck_assert_int_eq(st_open(p, &f), DB_OK);
    ck_assert_uint_eq(st_count(f), NS);
    for (int i = 0; i < NS; i++) {
        const st_tensor_info *ti = st_find(f, spec[i].name);
        ck_assert_ptr_nonnull(ti);
        ck_assert_int_eq(ti->shape[0], spec[i].n);
        ck_assert_mem_eq(ti->data, data[i], ti->nbytes);
        free(data[i]);
    }
    ck_assert_str_eq(st_meta_get(f, "k"), "v");
    st_close(f);
}
END_TEST

START_TEST(test_alignment_and_file_order)
{
    /* Declared smallest first: the writer must still put every tensor at a multiple of its
     * element size, and the mapping must keep that alignment for the data pointers. */
    db_rng r;
    rng_seed(&r, 3);
    enum { NT = 24 };
    db_tensor t[NT];
    const char *names[NT];
    char nb[NT][16];
    for (int i = 0; i < NT; i++) {
        static const db_dtype order[] = {DT_U8, DT_BOOL, DT_F16, DT_BF16, DT_F32, DT_I64, DT_F64};
        int64_t shape[1] = {1 + (int64_t)rng_below(&r, 13)};
        ck_assert_int_eq(tensor_alloc(&t[i], order[i % 7], 1, shape), DB_OK);
        snprintf(nb[i], sizeof nb[i], "w%02d", i);
        names[i] = nb[i];
    }
    const char *p = tl_path("align.safetensors");
    ck_assert_int_eq(st_save(p, NT, names, t, 0, NULL, NULL), DB_OK);
    st_file *f;
    ck_assert_int_eq(st_open(p, &f), DB_OK);
    size_t prev_end = 0, prev_size = 8;
    for (size_t i = 0; i < st_count(f); i++) {
        const st_tensor_info *ti = st_get(f, i);
        size_t es = dtype_size(ti->dtype);
        ck_assert_uint_eq(ti->offset % es, 0);
        ck_assert_uint_eq((uintptr_t)ti->data % es, 0);
        ck_assert_uint_eq(ti->offset, prev_end); /* file order: ascending, contiguous */
        ck_assert_uint_le(es, prev_size);        /* descending element size */
        prev_end = ti->offset + ti->nbytes;
        prev_size = es;
    }
    st_close(f);
    for (int i = 0; i < NT; i++)
        tensor_free(&t[i]);
}
END_TEST

/* The mapping of /proc/self/maps that holds p: its path and permissions. */
static bool mapping_of(const void *p, char *path, size_t n, char perms[5])
{
    FILE *fp = fopen("/proc/self/maps", "r");
    if (!fp)
        return false;
    char line[PATH_MAX + 128];
    bool found = false;
    while (!found && fgets(line, sizeof line, fp)) {
        unsigned long lo, hi;
        int off = 0;
        if (sscanf(line, "%lx-%lx %4s %*s %*s %*s %n", &lo, &hi, perms, &off) < 3)
            continue;
        if ((uintptr_t)p >= lo && (uintptr_t)p < hi) {
            snprintf(path, n, "%s", off ? line + off : "");
            path[strcspn(path, "\n")] = '\0';
            found = true;
        }
    }
    fclose(fp);
    return found;
}

START_TEST(test_zero_copy)
{
    int64_t shape[2] = {64, 64};
    db_tensor t[2];
    ck_assert_int_eq(tensor_alloc(&t[0], DT_F32, 2, shape), DB_OK);
    ck_assert_int_eq(tensor_alloc(&t[1], DT_F16, 2, shape), DB_OK);
    const char *names[] = {"x", "y"};
    const char *p = tl_path("zc.safetensors");
    ck_assert_int_eq(st_save(p, 2, names, t, 0, NULL, NULL), DB_OK);
    st_file *f;
    ck_assert_int_eq(st_open(p, &f), DB_OK);
    char real[PATH_MAX], mpath[PATH_MAX], perms[5];
    ck_assert_ptr_nonnull(realpath(p, real));
    for (size_t i = 0; i < st_count(f); i++) {
        const st_tensor_info *ti = st_get(f, i);
        ck_assert_msg(mapping_of(ti->data, mpath, sizeof mpath, perms), "no mapping");
        ck_assert_str_eq(mpath, real);  /* the pointer lies in a mapping of the file itself */
        ck_assert_int_eq(perms[1], '-'); /* mapped read-only */
        ck_assert_ptr_eq(ti->data, (const char *)st_get(f, 0)->data - st_get(f, 0)->offset +
                                       ti->offset);
        ck_assert_ptr_eq(st_find(f, ti->name), ti);
        db_tensor v;
        ck_assert_int_eq(st_view(ti, &v), DB_OK);
        ck_assert_ptr_eq(v.data, ti->data);
        ck_assert(!v.owner);
        ck_assert_int_eq(v.dtype, ti->dtype);
        ck_assert_int_eq(v.shape[1], 64);
        ck_assert(tensor_is_contiguous(&v));
        tensor_free(&v); /* a view: must not free the mapping */
    }
    const char *before = st_get(f, 0)->data;
    ck_assert_ptr_eq(st_get(f, 0)->data, before);
    st_close(f);
    tensor_free(&t[0]);
    tensor_free(&t[1]);
}
END_TEST

START_TEST(test_many_tensors_lookup)
{
    enum { NT = 3000 };
    const char *p = tl_path("many.safetensors");
    st_writer *w;
    ck_assert_int_eq(st_writer_open(p, &w), DB_OK);
    char name[64];
    int64_t one = 1;
    for (int i = NT - 1; i >= 0; i--) {
        snprintf(name, sizeof name, "model.layers.%d.weight", i);
        ck_assert_int_eq(st_writer_declare(w, name, DT_I32, 1, &one), DB_OK);
    }
    ck_assert_int_eq(st_writer_begin(w), DB_OK);
    const char *due;
    while ((due = st_writer_next(w))) {
        int32_t v = atoi(due + strlen("model.layers."));
        ck_assert_int_eq(st_writer_write(w, &v, 4), DB_OK);
    }
    ck_assert_int_eq(st_writer_finish(w), DB_OK);
    st_file *f;
    ck_assert_int_eq(st_open(p, &f), DB_OK);
    ck_assert_uint_eq(st_count(f), NT);
    for (int i = 0; i < NT; i++) {
        snprintf(name, sizeof name, "model.layers.%d.weight", i);
        const st_tensor_info *ti = st_find(f, name);
        ck_assert_ptr_nonnull(ti);
        int32_t v;
        memcpy(&v, ti->data, 4);
        ck_assert_int_eq(v, i);
    }
    ck_assert_ptr_null(st_find(f, "model.layers.3000.weight"));
    ck_assert_ptr_null(st_find(f, "model.layers.0.weigh"));
    st_close(f);
}
END_TEST

START_TEST(test_header_text)
{
    /* What others read: integers printed as integers, metadata first, space padding. */
    int64_t shape[2] = {2, 3};
    db_tensor t;
    ck_assert_int_eq(tensor_alloc(&t, DT_F32, 2, shape), DB_OK);
    const char *name = "w", *k = "format", *v = "pt";
    const char *p = tl_path("h.safetensors");
    ck_assert_int_eq(st_save(p, 1, &name, &t, 1, &k, &v), DB_OK);
    size_t n;
    unsigned char *b = tl_read(p, &n);
    uint64_t hn = 0;
    for (int i = 7; i >= 0; i--)
        hn = hn << 8 | b[i];
    ck_assert_uint_eq((8 + hn) % 8, 0);
    ck_assert_uint_eq(n, 8 + hn + 24);
    const char *want = "{\"__metadata__\":{\"format\":\"pt\"},\"w\":{\"dtype\":\"F32\",\"shape\":"
                       "[2,3],\"data_offsets\":[0,24]}}";
    ck_assert_uint_ge(hn, strlen(want));
    ck_assert_int_eq(memcmp(b + 8, want, strlen(want)), 0);
    for (size_t i = 8 + strlen(want); i < 8 + hn; i++)
        ck_assert_int_eq(b[i], ' ');
    free(b);
    tensor_free(&t);
}
END_TEST

/* ---- corrupt files ------------------------------------------------------------------------- */

#define E1(fields) "{\"a\":{" fields "}}"

START_TEST(test_corrupt_truncated)
{
    const unsigned char b[8] = {0};
    for (size_t n = 0; n < 8; n++) {
        const char *p = tl_path("short.safetensors");
        tl_write(p, b, n);
        expect_open_fail("short", p, DB_ERR_FORMAT, "truncated");
    }
}
END_TEST

START_TEST(test_corrupt_header_length)
{
    const char *h = "{}";
    const char *p = tl_path("len.safetensors");
    write_raw_len(p, 3, h, 2, 0);
    expect_open_fail("N = file + 1", p, DB_ERR_FORMAT, "beyond end of file");
    write_raw_len(p, UINT64_MAX, h, 2, 0);
    expect_open_fail("N = 2^64 - 1", p, DB_ERR_FORMAT, "beyond end of file");
    write_raw_len(p, (uint64_t)1 << 63, h, 2, 100);
    expect_open_fail("N = 2^63", p, DB_ERR_FORMAT, "beyond end of file");
}
END_TEST

START_TEST(test_corrupt_json)
{
    static const corrupt_case c[] = {
        {"unterminated", "{\"a\":", 0, "invalid JSON header"},
        {"single quotes", "{'a':1}", 0, "invalid JSON header"},
        {"bare word", "safetensors", 0, "invalid JSON header"},
        {"empty header", "", 0, "invalid JSON header"},
        {"only spaces", "        ", 0, "invalid JSON header"},
        {"trailing text", "{} x", 0, "trailing data"},
        {"trailing brace", "{}}", 0, "trailing data"},
        {"two objects", "{}{}", 0, "trailing data"},
        {"invalid UTF-8", "{\"\xff\":{}}", 0, "not valid UTF-8"},
        {"overlong UTF-8", "{\"\xc0\xaf\":{}}", 0, "not valid UTF-8"},
        {"surrogate UTF-8", "{\"\xed\xa0\x80\":{}}", 0, "not valid UTF-8"},
        {"not an object: array", "[]", 0, "header is not a JSON object"},
        {"not an object: string", "\"x\"", 0, "header is not a JSON object"},
        {"not an object: number", "8", 0, "header is not a JSON object"},
        {"not an object: null", "null", 0, "header is not a JSON object"},
    };
    run_corrupt(c, sizeof c / sizeof c[0]);
    /* A NUL byte inside the header. */
    const char h[] = "{\"a\0\":{}}";
    const char *p = tl_path("nul.safetensors");
    write_raw_len(p, sizeof h - 1, h, sizeof h - 1, 0);
    expect_open_fail("NUL byte", p, DB_ERR_FORMAT, "not valid UTF-8");
}
END_TEST

START_TEST(test_corrupt_entry_fields)
{
    static const corrupt_case c[] = {
        {"no dtype", E1("\"shape\":[1],\"data_offsets\":[0,4]"), 4, "missing \"dtype\""},
        {"no shape", E1("\"dtype\":\"F32\",\"data_offsets\":[0,4]"), 4, "missing \"shape\""},
        {"no offsets", E1("\"dtype\":\"F32\",\"shape\":[1]"), 4, "missing \"data_offsets\""},
        {"dtype number", E1("\"dtype\":5,\"shape\":[1],\"data_offsets\":[0,4]"), 4,
         "\"dtype\" is not a string"},
        {"dtype null", E1("\"dtype\":null,\"shape\":[1],\"data_offsets\":[0,4]"), 4,
         "\"dtype\" is not a string"},
        {"shape object", E1("\"dtype\":\"F32\",\"shape\":{\"0\":1},\"data_offsets\":[0,4]"), 4,
         "\"shape\" is not an array"},
        {"shape number", E1("\"dtype\":\"F32\",\"shape\":1,\"data_offsets\":[0,4]"), 4,
         "\"shape\" is not an array"},
        {"shape string elem", E1("\"dtype\":\"F32\",\"shape\":[\"1\"],\"data_offsets\":[0,4]"), 4,
         "shape[0] is not an integer"},
        {"shape null elem", E1("\"dtype\":\"F32\",\"shape\":[1,null],\"data_offsets\":[0,4]"), 4,
         "shape[1] is not an integer"},
        {"offsets string", E1("\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":\"0,4\""), 4,
         "not an array of two offsets"},
        {"three offsets", E1("\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,4]"), 4,
         "not an array of two offsets"},
        {"one offset", E1("\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4]"), 4,
         "not an array of two offsets"},
        {"offsets object", E1("\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":{\"a\":0,\"b\":4}"),
         4, "not an array of two offsets"},
        {"offset string", E1("\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,\"4\"]"), 4,
         "data_offsets are not integers"},
        {"entry array", "{\"a\":[1,2]}", 0, "entry is not an object"},
        {"entry string", "{\"a\":\"F32\"}", 0, "entry is not an object"},
        {"duplicate dtype",
         E1("\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]"), 4,
         "duplicate key \"dtype\""},
        {"duplicate offsets",
         E1("\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"data_offsets\":[0,4]"), 4,
         "duplicate key \"data_offsets\""},
    };
    run_corrupt(c, sizeof c / sizeof c[0]);
}
END_TEST

START_TEST(test_corrupt_dtype)
{
    static const corrupt_case c[] = {
        {"F8", E1("\"dtype\":\"F8\",\"shape\":[1],\"data_offsets\":[0,1]"), 1,
         "unknown dtype \"F8\""},
        {"lower case", E1("\"dtype\":\"f32\",\"shape\":[1],\"data_offsets\":[0,4]"), 4,
         "unknown dtype \"f32\""},
        {"empty", E1("\"dtype\":\"\",\"shape\":[1],\"data_offsets\":[0,4]"), 4,
         "unknown dtype \"\""},
        {"trailing space", E1("\"dtype\":\"F32 \",\"shape\":[1],\"data_offsets\":[0,4]"), 4,
         "unknown dtype"},
    };
    run_corrupt(c, sizeof c / sizeof c[0]);
}
END_TEST

START_TEST(test_corrupt_numbers)
{
    static const corrupt_case c[] = {
        {"negative dim", E1("\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]"), 4,
         "shape[0] is not an integer in [0, 2^53]"},
        {"fractional dim", E1("\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]"), 4,
         "shape[0] is not an integer"},
        {"dim 2^53+2", E1("\"dtype\":\"U8\",\"shape\":[9007199254740994],\"data_offsets\":[0,4]"),
         4, "shape[0] is not an integer"},
        {"dim 1e300", E1("\"dtype\":\"U8\",\"shape\":[1,1e300],\"data_offsets\":[0,4]"), 4,
         "shape[1] is not an integer"},
        {"negative offset", E1("\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[-4,0]"), 4,
         "data_offsets are not integers"},
        {"fractional offset", E1("\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4.5]"), 4,
         "data_offsets are not integers"},
        {"offset 2^54",
         E1("\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,18014398509481984]"), 4,
         "data_offsets are not integers"},
        {"dims overflow",
         E1("\"dtype\":\"F64\",\"shape\":[4294967296,4294967296,4294967296],"
            "\"data_offsets\":[0,8]"),
         8, "overflows"},
    };
    run_corrupt(c, sizeof c / sizeof c[0]);
}
END_TEST

START_TEST(test_corrupt_size_mismatch)
{
    static const corrupt_case c[] = {
        {"short range", E1("\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]"), 4,
         "byte size mismatch"},
        {"long range", E1("\"dtype\":\"F16\",\"shape\":[2,3],\"data_offsets\":[0,14]"), 14,
         "byte size mismatch"},
        {"zero-size with bytes", E1("\"dtype\":\"F16\",\"shape\":[0],\"data_offsets\":[0,2]"), 2,
         "byte size mismatch"},
        {"scalar empty range", E1("\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[0,0]"), 0,
         "byte size mismatch"},
    };
    run_corrupt(c, sizeof c / sizeof c[0]);
}
END_TEST

#define T(nm, dt, shp, b, e) \
    "\"" nm "\":{\"dtype\":\"" dt "\",\"shape\":" shp ",\"data_offsets\":[" #b "," #e "]}"

START_TEST(test_corrupt_ranges)
{
    static const corrupt_case c[] = {
        {"begin > end", "{" T("a", "F32", "[1]", 8, 4) "}", 8, "begin 8 > end 4"},
        {"outside", "{" T("a", "F32", "[2]", 0, 8) "}", 4, "outside the data area"},
        {"outside far", "{" T("a", "F32", "[1]", 100, 104) "}", 4, "outside the data area"},
        {"overlap", "{" T("a", "F32", "[2]", 0, 8) "," T("b", "F32", "[2]", 4, 12) "}", 12,
         "overlap"},
        {"same range", "{" T("a", "F32", "[1]", 0, 4) "," T("b", "I32", "[1]", 0, 4) "}", 4,
         "overlap"},
        {"zero-size inside", "{" T("a", "F32", "[2]", 0, 8) "," T("z", "F32", "[0]", 4, 4) "}", 8,
         "overlap"},
        {"gap between", "{" T("a", "F32", "[1]", 0, 4) "," T("b", "F32", "[1]", 8, 12) "}", 12,
         "gap of 4 unused bytes before tensor 'b'"},
        {"gap at start", "{" T("a", "F32", "[1]", 4, 8) "}", 8, "gap of 4 unused bytes"},
        {"trailing bytes", "{" T("a", "F32", "[1]", 0, 4) "}", 8, "4 unused trailing bytes"},
        {"data, no tensors", "{}", 3, "3 unused trailing bytes"},
    };
    run_corrupt(c, sizeof c / sizeof c[0]);
    /* Unordered but tiling ranges, and zero-size tensors at the edges, are fine. */
    expect_open_ok("unordered", "{" T("b", "F32", "[1]", 4, 8) "," T("a", "F32", "[1]", 0, 4) ","
                                T("z", "U8", "[0]", 8, 8) "," T("y", "U8", "[0]", 0, 0) "}",
                   8);
}
END_TEST

START_TEST(test_corrupt_duplicates)
{
    static const corrupt_case c[] = {
        {"tensor twice", "{" T("a", "F32", "[1]", 0, 4) "," T("a", "F32", "[1]", 4, 8) "}", 8,
         "duplicate tensor name 'a'"},
        {"tensor twice, zero-size", "{" T("e", "F32", "[0]", 0, 0) "," T("e", "F32", "[0]", 0, 0) "}",
         0, "duplicate tensor name 'e'"},
        {"metadata key twice", "{\"__metadata__\":{\"k\":\"1\",\"j\":\"0\",\"k\":\"2\"}}", 0,
         "duplicate __metadata__ key 'k'"},
        {"__metadata__ twice", "{\"__metadata__\":{},\"__metadata__\":{}}", 0,
         "duplicate key __metadata__"},
    };
    run_corrupt(c, sizeof c / sizeof c[0]);
}
END_TEST

START_TEST(test_corrupt_metadata)
{
    static const corrupt_case c[] = {
        {"array", "{\"__metadata__\":[]}", 0, "__metadata__ is not an object"},
        {"string", "{\"__metadata__\":\"x\"}", 0, "__metadata__ is not an object"},
        {"null", "{\"__metadata__\":null}", 0, "__metadata__ is not an object"},
        {"number value", "{\"__metadata__\":{\"k\":1}}", 0, "value of 'k' is not a string"},
        {"null value", "{\"__metadata__\":{\"k\":null}}", 0, "value of 'k' is not a string"},
        {"object value", "{\"__metadata__\":{\"a\":\"b\",\"k\":{}}}", 0,
         "value of 'k' is not a string"},
    };
    run_corrupt(c, sizeof c / sizeof c[0]);
}
END_TEST

START_TEST(test_corrupt_too_many_dims)
{
    static const corrupt_case c[] = {
        {"9 dims", E1("\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,1]"), 1,
         "more than 8 dimensions"},
        {"40 dims",
         E1("\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,"
            "1,1,1,1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,1]"),
         1, "more than 8 dimensions"},
    };
    run_corrupt(c, sizeof c / sizeof c[0]);
}
END_TEST

START_TEST(test_io_errors)
{
    const char *p = tl_path("does-not-exist.safetensors");
    expect_open_fail("missing", p, DB_ERR_IO, "No such file");
    expect_open_fail("directory", tl_dir, DB_ERR_IO, "Is a directory");
    st_file *f = (st_file *)1;
    ck_assert_int_eq(st_open(NULL, &f), DB_ERR_ARG);
    ck_assert_ptr_null(f);
    st_close(NULL);
}
END_TEST

START_TEST(test_fuzz_header_bytes)
{
    /* Random single-byte corruption of the length and header of a valid file: any status, but
     * never a crash, and every tensor of an accepted file is readable. */
    db_rng r;
    rng_seed(&r, 2024);
    int64_t s1[2] = {3, 5}, s2[1] = {7}, s3[0];
    db_tensor t[3];
    ck_assert_int_eq(tensor_alloc(&t[0], DT_F32, 2, s1), DB_OK);
    ck_assert_int_eq(tensor_alloc(&t[1], DT_F16, 1, s2), DB_OK);
    ck_assert_int_eq(tensor_alloc(&t[2], DT_I64, 0, s3), DB_OK);
    const char *names[] = {"alpha", "beta", "gamma"};
    const char *k = "format", *v = "pt";
    const char *p = tl_path("fuzz.safetensors");
    ck_assert_int_eq(st_save(p, 3, names, t, 1, &k, &v), DB_OK);
    size_t n;
    unsigned char *good = tl_read(p, &n), *bad = malloc(n);
    st_file *f;
    ck_assert_int_eq(st_open(p, &f), DB_OK);
    size_t hend = 8 + st_header_bytes(f);
    st_close(f);
    int ok = 0, failed = 0;
    for (int it = 0; it < 2000; it++) {
        memcpy(bad, good, n);
        bad[rng_below(&r, hend)] = (unsigned char)rng_below(&r, 256);
        tl_write(p, bad, n);
        f = NULL;
        db_status s = st_open(p, &f);
        if (s == DB_OK) {
            unsigned sum = 0;
            for (size_t i = 0; i < st_count(f); i++) {
                const st_tensor_info *ti = st_get(f, i);
                for (size_t j = 0; j < ti->nbytes; j++)
                    sum += ((const unsigned char *)ti->data)[j];
                ck_assert_uint_le(ti->offset + ti->nbytes, n - hend);
            }
            (void)sum;
            st_close(f);
            ok++;
        } else {
            ck_assert_ptr_null(f);
            ck_assert_ptr_nonnull(strstr(db_errmsg(), p));
            failed++;
        }
    }
    ck_assert_int_gt(failed, 1000); /* most corruptions must be caught */
    ck_assert_int_gt(ok, 0);        /* e.g. a changed byte inside the padding or a value */
    free(good);
    free(bad);
    for (int i = 0; i < 3; i++)
        tensor_free(&t[i]);
}
END_TEST

/* ---- writer errors ------------------------------------------------------------------------- */

/* Expects the last writer call to have failed with want and a message naming the target, and
 * that nothing is left in the directory once the writer is freed. */
static void expect_writer_error(st_writer *w, db_status got, db_status want, const char *path,
                                const char *phrase)
{
    const char *msg = db_errmsg();
    ck_assert_msg(got == want, "status %s, want %s (%s)", db_status_str(got), db_status_str(want),
                  msg);
    ck_assert_msg(strstr(msg, path), "message lacks the path: %s", msg);
    ck_assert_msg(strstr(msg, phrase), "message lacks \"%s\": %s", phrase, msg);
    ck_assert_int_eq(tl_dir_entries(tl_dir, NULL), 0); /* the temporary file is gone at once */
    ck_assert_ptr_null(st_writer_next(w));
    ck_assert_int_eq(st_writer_write(w, "x", 1), want); /* the writer stays failed */
    ck_assert_int_eq(st_writer_finish(w), want);
    ck_assert_int_eq(tl_dir_entries(tl_dir, NULL), 0);
}

START_TEST(test_writer_write_past_end)
{
    const char *p = tl_path("w.safetensors");
    st_writer *w;
    int64_t shape[1] = {4};
    ck_assert_int_eq(st_writer_open(p, &w), DB_OK);
    ck_assert_int_eq(st_writer_declare(w, "a", DT_F16, 1, shape), DB_OK);
    ck_assert_int_eq(st_writer_begin(w), DB_OK);
    ck_assert_int_eq(tl_dir_entries(tl_dir, NULL), 1);
    char buf[16] = {0};
    ck_assert_int_eq(st_writer_write(w, buf, 5), DB_OK);
    db_status s = st_writer_write(w, buf, 4);
    expect_writer_error(w, s, DB_ERR_ARG, p, "past the end of tensor 'a'");
}
END_TEST

START_TEST(test_writer_write_after_last)
{
    const char *p = tl_path("w.safetensors");
    st_writer *w;
    int64_t shape[1] = {2};
    ck_assert_int_eq(st_writer_open(p, &w), DB_OK);
    ck_assert_int_eq(st_writer_declare(w, "a", DT_U8, 1, shape), DB_OK);
    ck_assert_int_eq(st_writer_begin(w), DB_OK);
    ck_assert_int_eq(st_writer_write(w, "ab", 2), DB_OK);
    ck_assert_ptr_null(st_writer_next(w));
    ck_assert_int_eq(st_writer_write(w, "", 0), DB_OK);
    db_status s = st_writer_write(w, "c", 1);
    expect_writer_error(w, s, DB_ERR_ARG, p, "after the last tensor");
}
END_TEST

START_TEST(test_writer_missing_bytes)
{
    const char *p = tl_path("w.safetensors");
    st_writer *w;
    int64_t shape[2] = {3, 3};
    ck_assert_int_eq(st_writer_open(p, &w), DB_OK);
    ck_assert_int_eq(st_writer_declare(w, "a", DT_F32, 2, shape), DB_OK);
    ck_assert_int_eq(st_writer_declare(w, "b", DT_F32, 2, shape), DB_OK);
    ck_assert_int_eq(st_writer_begin(w), DB_OK);
    float buf[9] = {0};
    ck_assert_int_eq(st_writer_write(w, buf, 36), DB_OK);
    ck_assert_int_eq(st_writer_write(w, buf, 20), DB_OK);
    db_error_clear();
    ck_assert_int_eq(st_writer_finish(w), DB_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(db_errmsg(), p));
    ck_assert_ptr_nonnull(strstr(db_errmsg(), "bytes missing: tensor 'b' has 20 of 36 bytes"));
    ck_assert_int_eq(tl_dir_entries(tl_dir, NULL), 0);

    /* Not begun at all: finish writes the header itself, then finds the bytes missing. */
    ck_assert_int_eq(st_writer_open(p, &w), DB_OK);
    ck_assert_int_eq(st_writer_declare(w, "a", DT_F32, 2, shape), DB_OK);
    ck_assert_int_eq(st_writer_finish(w), DB_ERR_ARG);
    ck_assert_int_eq(tl_dir_entries(tl_dir, NULL), 0);
}
END_TEST

START_TEST(test_writer_declare_after_begin)
{
    const char *p = tl_path("w.safetensors");
    st_writer *w;
    int64_t shape[1] = {1};
    ck_assert_int_eq(st_writer_open(p, &w), DB_OK);
    ck_assert_int_eq(st_writer_begin(w), DB_OK);
    db_status s = st_writer_declare(w, "late", DT_F32, 1, shape);
    expect_writer_error(w, s, DB_ERR_ARG, p, "declared after the header");

    ck_assert_int_eq(st_writer_open(p, &w), DB_OK);
    ck_assert_int_eq(st_writer_begin(w), DB_OK);
    s = st_writer_meta(w, "k", "v");
    expect_writer_error(w, s, DB_ERR_ARG, p, "after the header");

    ck_assert_int_eq(st_writer_open(p, &w), DB_OK);
    ck_assert_int_eq(st_writer_begin(w), DB_OK);
    s = st_writer_begin(w);
    expect_writer_error(w, s, DB_ERR_ARG, p, "called twice");

    ck_assert_int_eq(st_writer_open(p, &w), DB_OK);
    ck_assert_int_eq(st_writer_declare(w, "a", DT_F32, 1, shape), DB_OK);
    s = st_writer_write(w, "abcd", 4);
    expect_writer_error(w, s, DB_ERR_ARG, p, "before st_writer_begin");
}
END_TEST

START_TEST(test_writer_duplicates)
{
    const char *p = tl_path("w.safetensors");
    st_writer *w;
    int64_t shape[1] = {1};
    ck_assert_int_eq(st_writer_open(p, &w), DB_OK);
    ck_assert_int_eq(st_writer_declare(w, "a", DT_F32, 1, shape), DB_OK);
    ck_assert_int_eq(st_writer_declare(w, "b", DT_F16, 1, shape), DB_OK);
    ck_assert_int_eq(st_writer_declare(w, "a", DT_U8, 1, shape), DB_OK);
    db_status s = st_writer_begin(w);
    expect_writer_error(w, s, DB_ERR_ARG, p, "duplicate tensor name 'a'");

    ck_assert_int_eq(st_writer_open(p, &w), DB_OK);
    ck_assert_int_eq(st_writer_meta(w, "k", "1"), DB_OK);
    ck_assert_int_eq(st_writer_meta(w, "k", "2"), DB_OK);
    s = st_writer_begin(w);
    expect_writer_error(w, s, DB_ERR_ARG, p, "duplicate metadata key 'k'");

    /* Through st_save too, and the target is left untouched when it already exists. */
    db_tensor t[2];
    float x = 1;
    ck_assert_int_eq(tensor_view(&t[0], DT_F32, 1, shape, &x), DB_OK);
    t[1] = t[0];
    const char *names[] = {"dup", "dup"};
    ck_assert_int_eq(st_save(p, 2, names, t, 0, NULL, NULL), DB_ERR_ARG);
    ck_assert_int_eq(tl_dir_entries(tl_dir, NULL), 0);
    ck_assert_int_eq(st_save(p, 1, names, t, 0, NULL, NULL), DB_OK);
    ck_assert_int_eq(st_save(p, 2, names, t, 0, NULL, NULL), DB_ERR_ARG);
    ck_assert_int_eq(tl_dir_entries(tl_dir, NULL), 1);
    st_file *f;
    ck_assert_int_eq(st_open(p, &f), DB_OK);
    ck_assert_uint_eq(st_count(f), 1);
    st_close(f);
}
END_TEST

START_TEST(test_writer_bad_declarations)
{
    const char *p = tl_path("w.safetensors");
    int64_t ok[1] = {2}, neg[2] = {2, -1}, big[2] = {(int64_t)1 << 53, 4},
            nine[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    static const struct {
        const char *name;
        int dt, ndim;
        int shape; /* 0 ok, 1 neg, 2 big, 3 nine, 4 NULL */
        const char *phrase;
    } c[] = {
        {"a", DT_COUNT, 1, 0, "invalid dtype"},   {"a", -1, 1, 0, "invalid dtype"},
        {"a", DT_F32, 2, 1, "shape[1] = -1"},     {"a", DT_F32, 2, 2, "shape too large"},
        {"a", DT_F32, 9, 3, "invalid shape"},     {"a", DT_F32, -1, 0, "invalid shape"},
        {"a", DT_F32, 1, 4, "invalid shape"},     {NULL, DT_F32, 1, 0, "NULL tensor name"},
        {"__metadata__", DT_F32, 1, 0, "reserved"}, {"\xff", DT_F32, 1, 0, "not valid UTF-8"},
    };
    const int64_t *shapes[] = {ok, neg, big, nine, NULL};
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
        st_writer *w;
        ck_assert_int_eq(st_writer_open(p, &w), DB_OK);
        db_status s = st_writer_declare(w, c[i].name, (db_dtype)c[i].dt, c[i].ndim,
                                        shapes[c[i].shape]);
        expect_writer_error(w, s, DB_ERR_ARG, p, c[i].phrase);
    }
    st_writer *w;
    ck_assert_int_eq(st_writer_open(p, &w), DB_OK);
    db_status s = st_writer_meta(w, "k", NULL);
    expect_writer_error(w, s, DB_ERR_ARG, p, "NULL metadata value");

    /* A non-contiguous tensor given to st_save. */
    db_tensor t;
    float x[4] = {0};
    int64_t sh[2] = {2, 2};
    ck_assert_int_eq(tensor_view(&t, DT_F32, 2, sh, x), DB_OK);
    t.strides[0] = 1, t.strides[1] = 2;
    const char *name = "transposed";
    ck_assert_int_eq(st_save(p, 1, &name, &t, 0, NULL, NULL), DB_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(db_errmsg(), "not contiguous"));
    ck_assert_int_eq(tl_dir_entries(tl_dir, NULL), 0);
}
END_TEST

START_TEST(test_writer_abort_and_io_error)
{
    const char *p = tl_path("w.safetensors");
    st_writer *w;
    int64_t shape[1] = {8};
    ck_assert_int_eq(st_writer_open(p, &w), DB_OK);
    ck_assert_int_eq(st_writer_declare(w, "a", DT_U8, 1, shape), DB_OK);
    ck_assert_int_eq(st_writer_begin(w), DB_OK);
    ck_assert_int_eq(st_writer_write(w, "abcd", 4), DB_OK);
    char tmp[PATH_MAX + 32];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", p, (long)getpid()); /* fs_tmp_name's spelling */
    ck_assert_int_eq(access(tmp, F_OK), 0);
    ck_assert_int_eq(access(p, F_OK), -1); /* nothing under the final name until finish */
    ck_assert_int_eq(tl_dir_entries(tl_dir, NULL), 1);
    st_writer_abort(w);
    ck_assert_int_eq(tl_dir_entries(tl_dir, NULL), 0);
    st_writer_abort(NULL);
    ck_assert_int_eq(st_writer_finish(NULL), DB_ERR_ARG);

    const char *q = tl_path("no/such/dir/x.safetensors");
    w = (st_writer *)1;
    ck_assert_int_eq(st_writer_open(q, &w), DB_ERR_IO);
    ck_assert_ptr_null(w);
    ck_assert_ptr_nonnull(strstr(db_errmsg(), q));
    ck_assert_ptr_nonnull(strstr(db_errmsg(), "No such file"));
    ck_assert_int_eq(st_save(q, 0, NULL, NULL, 0, NULL, NULL), DB_ERR_IO);
    ck_assert_int_eq(tl_dir_entries(tl_dir, NULL), 0);
}
END_TEST

/* ---- allocation failure -------------------------------------------------------------------- */

/* What an allocation-failure loop runs: op calls the function under test, done checks and
 * frees its result once injection is off again. */
typedef struct {
    const char *path;
    st_file *f;
    st_model *m;
    size_t n;
    const char *const *names;
    const db_tensor *t;
} op_ctx;

static db_status op_open(void *ctx)
{
    op_ctx *c = ctx;
    return st_open(c->path, &c->f);
}

static void done_open(void *ctx, db_status s)
{
    op_ctx *c = ctx;
    if (s == DB_OK)
        st_close(c->f);
    else
        ck_assert_ptr_null(c->f);
}

static db_status op_save(void *ctx)
{
    const op_ctx *c = ctx;
    static const char *keys[] = {"a", "b"}, *vals[] = {"1", "2"};
    return st_save(c->path, c->n, c->names, c->t, 2, keys, vals);
}

static void done_save(void *ctx, db_status s)
{
    (void)ctx;
    ck_assert_int_eq(tl_dir_entries(tl_dir, NULL), s == DB_OK); /* no temporary file left behind */
}

static db_status op_model(void *ctx)
{
    op_ctx *c = ctx;
    return st_model_open(c->path, &c->m);
}

static void done_model(void *ctx, db_status s)
{
    op_ctx *c = ctx;
    if (s == DB_OK)
        st_model_close(c->m);
    else
        ck_assert_ptr_null(c->m);
}

static void make_sample(const char *path, int ntensors, const char *prefix)
{
    db_tensor t[8] = {{0}};
    const char *names[8] = {0};
    char nb[8][64];
    int64_t shape[2] = {3, 4};
    for (int i = 0; i < ntensors; i++) {
        ck_assert_int_eq(tensor_alloc(&t[i], i % 2 ? DT_F16 : DT_F32, 2, shape), DB_OK);
        snprintf(nb[i], sizeof nb[i], "%s%d", prefix, i);
        names[i] = nb[i];
    }
    const char *keys[] = {"format", "note"}, *vals[] = {"pt", "sample"};
    ck_assert_int_eq(st_save(path, (size_t)ntensors, names, t, 2, keys, vals), DB_OK);
    for (int i = 0; i < ntensors; i++)
        tensor_free(&t[i]);
}

START_TEST(test_alloc_fail_open)
{
    const char *p = tl_path("a.safetensors");
    make_sample(p, 5, "t");
    op_ctx c = {.path = p};
    ck_assert_int_gt(tl_alloc_sweep("st_open", op_open, done_open, &c, 100000), 10); /* cJSON's allocations too */
}
END_TEST

START_TEST(test_alloc_fail_save)
{
    const char *p = tl_path("s.safetensors");
    db_tensor t[3];
    const char *names[] = {"x", "y", "z"};
    int64_t shape[1] = {5};
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(tensor_alloc(&t[i], (db_dtype)i, 1, shape), DB_OK);
    op_ctx c = {.path = p, .n = 3, .names = names, .t = t};
    ck_assert_int_gt(tl_alloc_sweep("st_save", op_save, done_save, &c, 100000), 5);
    st_file *f;
    ck_assert_int_eq(st_open(p, &f), DB_OK);
    ck_assert_uint_eq(st_count(f), 3);
    st_close(f);
    for (int i = 0; i < 3; i++)
        tensor_free(&t[i]);
}
END_TEST

static void make_sharded(const char *dir_path)
{
    char p1[PATH_MAX], p2[PATH_MAX], pi[PATH_MAX];
    int n1 = snprintf(p1, sizeof p1, "%s/model-00001-of-00002.safetensors", dir_path);
    int n2 = snprintf(p2, sizeof p2, "%s/model-00002-of-00002.safetensors", dir_path);
    int ni = snprintf(pi, sizeof pi, "%s/model.safetensors.index.json", dir_path);
    ck_assert(n1 < PATH_MAX && n2 < PATH_MAX && ni < PATH_MAX);
    make_sample(p1, 3, "a");
    make_sample(p2, 2, "b");
    const char *idx = "{\"metadata\":{\"total_size\":240},\"weight_map\":{"
                      "\"a0\":\"model-00001-of-00002.safetensors\","
                      "\"b1\":\"model-00002-of-00002.safetensors\","
                      "\"a1\":\"model-00001-of-00002.safetensors\","
                      "\"a2\":\"model-00001-of-00002.safetensors\","
                      "\"b0\":\"model-00002-of-00002.safetensors\"}}\n";
    tl_write(pi, idx, strlen(idx));
}

START_TEST(test_alloc_fail_model_open)
{
    make_sharded(tl_dir);
    op_ctx c = {.path = tl_dir};
    ck_assert_int_gt(tl_alloc_sweep("st_model_open", op_model, done_model, &c, 100000), 20);
    c.path = tl_path("single.safetensors");
    make_sample(c.path, 2, "s");
    ck_assert_int_gt(tl_alloc_sweep("st_model_open", op_model, done_model, &c, 100000), 5);
}
END_TEST

/* ---- checkpoints --------------------------------------------------------------------------- */

START_TEST(test_model_sharded_index)
{
    make_sharded(tl_dir);
    const char *via[] = {tl_dir, tl_path("model.safetensors.index.json")};
    /* A model.safetensors beside the index must be ignored: the index wins. */
    make_sample(tl_path("model.safetensors"), 1, "ignored");
    for (int k = 0; k < 2; k++) {
        st_model *m;
        ck_assert_msg(st_model_open(via[k], &m) == DB_OK, "%s", db_errmsg());
        ck_assert_uint_eq(st_model_count(m), 5);
        ck_assert_uint_eq(st_model_shards(m), 2);
        ck_assert_ptr_nonnull(strstr(st_path(st_model_shard(m, 0)), "model-00001-of-00002"));
        ck_assert_ptr_nonnull(strstr(st_path(st_model_shard(m, 1)), "model-00002-of-00002"));
        ck_assert_ptr_null(st_model_shard(m, 2));
        /* Shard order, then file order (F32 before F16 within a shard). */
        static const char *order[] = {"a0", "a2", "a1", "b0", "b1"};
        for (size_t i = 0; i < 5; i++)
            ck_assert_str_eq(st_model_get(m, i)->name, order[i]);
        ck_assert_ptr_null(st_model_get(m, 5));
        for (size_t i = 0; i < 5; i++) {
            const st_tensor_info *ti = st_model_find(m, order[i]);
            ck_assert_ptr_nonnull(ti);
            ck_assert_ptr_eq(ti, st_find(st_model_shard(m, order[i][0] == 'b'), order[i]));
        }
        ck_assert_ptr_null(st_model_find(m, "ignored0"));
        ck_assert_ptr_null(st_model_find(m, "c0"));
        st_model_close(m);
    }
    st_model_close(NULL);
}
END_TEST

START_TEST(test_model_single_file)
{
    make_sample(tl_path("model.safetensors"), 4, "w");
    const char *via[] = {tl_dir, tl_path("model.safetensors")};
    for (int k = 0; k < 2; k++) {
        st_model *m;
        ck_assert_int_eq(st_model_open(via[k], &m), DB_OK);
        ck_assert_uint_eq(st_model_count(m), 4);
        ck_assert_uint_eq(st_model_shards(m), 1);
        ck_assert_ptr_nonnull(st_model_find(m, "w3"));
        ck_assert_ptr_eq(st_model_find(m, "w3"), st_find(st_model_shard(m, 0), "w3"));
        st_model_close(m);
    }
    /* A file of another name opens directly too. */
    make_sample(tl_path("other.safetensors"), 1, "o");
    st_model *m;
    ck_assert_int_eq(st_model_open(tl_path("other.safetensors"), &m), DB_OK);
    ck_assert_uint_eq(st_model_count(m), 1);
    st_model_close(m);
}
END_TEST

static void expect_model_fail(const char *label, const char *path, db_status want,
                              const char *names_file, const char *phrase)
{
    st_model *m = (st_model *)1;
    db_error_clear();
    db_status s = st_model_open(path, &m);
    const char *msg = db_errmsg();
    ck_assert_msg(s == want, "%s: status %s, want %s (%s)", label, db_status_str(s),
                  db_status_str(want), msg);
    ck_assert_msg(m == NULL, "%s: *out not NULL", label);
    ck_assert_msg(strstr(msg, names_file), "%s: message lacks %s: %s", label, names_file, msg);
    ck_assert_msg(strstr(msg, phrase), "%s: message lacks \"%s\": %s", label, phrase, msg);
}

START_TEST(test_model_index_errors)
{
    make_sample(tl_path("s1.safetensors"), 2, "a"); /* a0 a1 */
    make_sample(tl_path("s2.safetensors"), 2, "a"); /* a0 a1 again */
    make_sample(tl_path("s3.safetensors"), 1, "c"); /* c0 */
    static const struct {
        const char *label, *json, *phrase;
    } c[] = {
        {"not in shard", "{\"weight_map\":{\"a0\":\"s1.safetensors\",\"zz\":\"s1.safetensors\"}}",
         "tensor 'zz' is not in its shard"},
        {"wrong shard", "{\"weight_map\":{\"a0\":\"s1.safetensors\",\"c0\":\"s1.safetensors\"}}",
         "tensor 'c0' is not in its shard"},
        {"in two shards", "{\"weight_map\":{\"a0\":\"s1.safetensors\",\"a1\":\"s2.safetensors\"}}",
         "is in two shards"},
        {"no weight_map", "{\"metadata\":{}}", "missing \"weight_map\""},
        {"weight_map array", "{\"weight_map\":[\"s1.safetensors\"]}",
         "\"weight_map\" is not an object"},
        {"weight_map twice", "{\"weight_map\":{},\"weight_map\":{}}", "duplicate key"},
        {"value number", "{\"weight_map\":{\"a0\":1}}", "value of 'a0' is not a file name"},
        {"value empty", "{\"weight_map\":{\"a0\":\"\"}}", "value of 'a0' is not a file name"},
        {"absolute shard", "{\"weight_map\":{\"a0\":\"/etc/passwd\"}}", "absolute path"},
        {"tensor listed twice",
         "{\"weight_map\":{\"c0\":\"s3.safetensors\",\"c0\":\"s3.safetensors\"}}",
         "listed twice"},
        {"metadata not object", "{\"metadata\":3,\"weight_map\":{}}",
         "\"metadata\" is not an object"},
        {"invalid JSON", "{\"weight_map\":{", "invalid JSON"},
        {"trailing data", "{\"weight_map\":{}} ]", "trailing data"},
        {"not an object", "[1]", "index is not a JSON object"},
        {"empty file", "", "invalid JSON"},
    };
    const char *idx = tl_path("model.safetensors.index.json");
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
        tl_write(idx, c[i].json, strlen(c[i].json));
        expect_model_fail(c[i].label, idx, DB_ERR_FORMAT, idx, c[i].phrase);
        expect_model_fail(c[i].label, tl_dir, DB_ERR_FORMAT, idx, c[i].phrase);
    }

    /* A shard that is missing or corrupt: the message names the shard. */
    const char *j = "{\"weight_map\":{\"a0\":\"s1.safetensors\",\"x\":\"gone.safetensors\"}}";
    tl_write(idx, j, strlen(j));
    expect_model_fail("missing shard", idx, DB_ERR_IO, tl_path("gone.safetensors"), "No such file");
    write_raw(tl_path("gone.safetensors"), "{\"x\":{}}", 0);
    expect_model_fail("corrupt shard", idx, DB_ERR_FORMAT, tl_path("gone.safetensors"),
                      "missing \"dtype\"");

    /* An empty weight_map is an empty model. */
    tl_write(idx, "{\"weight_map\":{}}", 17);
    st_model *m;
    ck_assert_int_eq(st_model_open(idx, &m), DB_OK);
    ck_assert_uint_eq(st_model_count(m), 0);
    ck_assert_uint_eq(st_model_shards(m), 0);
    st_model_close(m);
}
END_TEST

START_TEST(test_model_path_errors)
{
    expect_model_fail("empty dir", tl_dir, DB_ERR_IO, tl_dir, "holds neither");
    const char *p = tl_path("nothing-here");
    expect_model_fail("missing path", p, DB_ERR_IO, p, "No such file");
    write_raw(tl_path("model.safetensors"), "[]", 0);
    expect_model_fail("corrupt single", tl_dir, DB_ERR_FORMAT, tl_path("model.safetensors"),
                      "not a JSON object");
    st_model *m = (st_model *)1;
    ck_assert_int_eq(st_model_open(NULL, &m), DB_ERR_ARG);
    ck_assert_ptr_null(m);
}
END_TEST

/* ---- llama names --------------------------------------------------------------------------- */

START_TEST(test_llama_names_roundtrip)
{
    static const int layers[] = {0, 1, 9, 10, 31, 79, 12345, INT_MAX};
    char buf[128];
    int linear = 0;
    for (int k = 0; k < LT_COUNT; k++) {
        llama_tensor kind = (llama_tensor)k;
        linear += llama_is_linear(kind);
        ck_assert_str_ne(llama_kind_str(kind), "?");
        for (size_t i = 0; i < sizeof layers / sizeof layers[0]; i++) {
            ck_assert(llama_name(buf, sizeof buf, kind, layers[i]));
            llama_tensor got;
            int layer;
            ck_assert_msg(llama_parse(buf, &got, &layer), "%s", buf);
            ck_assert_int_eq(got, kind);
            ck_assert_int_eq(layer, llama_is_layer_tensor(kind) ? layers[i] : -1);
        }
    }
    ck_assert_int_eq(linear, 7);
    ck_assert(llama_name(buf, sizeof buf, LT_Q, 3));
    ck_assert_str_eq(buf, "model.layers.3.self_attn.q_proj.weight");
    ck_assert(llama_name(buf, sizeof buf, LT_DOWN, 31));
    ck_assert_str_eq(buf, "model.layers.31.mlp.down_proj.weight");
    ck_assert(llama_name(buf, sizeof buf, LT_MLP_NORM, 0));
    ck_assert_str_eq(buf, "model.layers.0.post_attention_layernorm.weight");
    ck_assert(llama_name(buf, sizeof buf, LT_EMBED, 5));
    ck_assert_str_eq(buf, "model.embed_tokens.weight");
    ck_assert(llama_name(buf, sizeof buf, LT_FINAL_NORM, -1));
    ck_assert_str_eq(buf, "model.norm.weight");
    ck_assert(llama_name(buf, sizeof buf, LT_LM_HEAD, 0));
    ck_assert_str_eq(buf, "lm_head.weight");
    ck_assert_str_eq(llama_kind_str(LT_GATE), "gate_proj");
    ck_assert_str_eq(llama_kind_str(LT_EMBED), "embed_tokens");
    ck_assert(!llama_is_linear(LT_EMBED) && !llama_is_linear(LT_LM_HEAD));
    ck_assert(llama_is_layer_tensor(LT_ATTN_NORM) && !llama_is_layer_tensor(LT_FINAL_NORM));
    ck_assert_str_eq(llama_kind_str(LT_COUNT), "?");
}
END_TEST

START_TEST(test_llama_names_rejects)
{
    static const char *bad[] = {
        "",
        "model.layers.",
        "model.layers.x.self_attn.q_proj.weight",
        "model.layers.-1.self_attn.q_proj.weight",
        "model.layers.+1.self_attn.q_proj.weight",
        "model.layers.01.self_attn.q_proj.weight",
        "model.layers.2147483648.self_attn.q_proj.weight",
        "model.layers.99999999999999999999.mlp.up_proj.weight",
        "model.layers.3.self_attn.q_proj.bias",
        "model.layers.3.self_attn.q_proj.weight.extra",
        "model.layers.3self_attn.q_proj.weight",
        "model.layers.3.model.norm.weight",
        "model.layers.3",
        "model.embed_tokens.weight.x",
        "embed_tokens.weight",
        "model.norm.bias",
        "lm_head",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        llama_tensor k;
        int layer;
        ck_assert_msg(!llama_parse(bad[i], &k, &layer), "accepted \"%s\"", bad[i]);
    }
    char small[16];
    ck_assert(!llama_name(small, sizeof small, LT_Q, 0));
    ck_assert(!llama_name(small, sizeof small, LT_EMBED, -1));
    ck_assert(llama_name(small, sizeof small, LT_LM_HEAD, -1)); /* 14 characters fit */
    char buf[64];
    ck_assert(!llama_name(buf, sizeof buf, LT_Q, -1));
    ck_assert(!llama_name(buf, sizeof buf, LT_COUNT, 0));
}
END_TEST

START_TEST(test_llama_shapes)
{
    /* Llama-2-7B (multi-head attention) and Llama-3-8B (grouped-query, NKV = 8). */
    llama_shape l2 = {32000, 4096, 11008, 32, 32, 32};
    llama_shape l3 = {128256, 4096, 14336, 32, 32, 8};
    int64_t s[2];
    ck_assert_int_eq(llama_tensor_shape(&l2, LT_EMBED, s), 2);
    ck_assert(s[0] == 32000 && s[1] == 4096);
    ck_assert_int_eq(llama_tensor_shape(&l2, LT_Q, s), 2);
    ck_assert(s[0] == 4096 && s[1] == 4096);
    ck_assert_int_eq(llama_tensor_shape(&l2, LT_K, s), 2);
    ck_assert(s[0] == 4096 && s[1] == 4096);
    ck_assert_int_eq(llama_tensor_shape(&l3, LT_K, s), 2);
    ck_assert(s[0] == 1024 && s[1] == 4096);
    ck_assert_int_eq(llama_tensor_shape(&l3, LT_V, s), 2);
    ck_assert(s[0] == 1024 && s[1] == 4096);
    ck_assert_int_eq(llama_tensor_shape(&l3, LT_O, s), 2);
    ck_assert(s[0] == 4096 && s[1] == 4096);
    ck_assert_int_eq(llama_tensor_shape(&l3, LT_GATE, s), 2);
    ck_assert(s[0] == 14336 && s[1] == 4096);
    ck_assert_int_eq(llama_tensor_shape(&l3, LT_UP, s), 2);
    ck_assert(s[0] == 14336 && s[1] == 4096);
    ck_assert_int_eq(llama_tensor_shape(&l3, LT_DOWN, s), 2);
    ck_assert(s[0] == 4096 && s[1] == 14336);
    ck_assert_int_eq(llama_tensor_shape(&l3, LT_LM_HEAD, s), 2);
    ck_assert(s[0] == 128256 && s[1] == 4096);
    for (llama_tensor k = LT_ATTN_NORM; k < LT_COUNT; k++)
        if (k == LT_ATTN_NORM || k == LT_MLP_NORM || k == LT_FINAL_NORM) {
            ck_assert_int_eq(llama_tensor_shape(&l3, k, s), 1);
            ck_assert_int_eq(s[0], 4096);
        }
    /* A tiny model: hidden 48, 6 heads of 8, 2 KV heads. NKV 0 means NH. */
    llama_shape tiny = {256, 48, 128, 2, 6, 2}, mha = {256, 48, 128, 2, 6, 0};
    ck_assert_int_eq(llama_tensor_shape(&tiny, LT_K, s), 2);
    ck_assert(s[0] == 16 && s[1] == 48);
    ck_assert_int_eq(llama_tensor_shape(&mha, LT_K, s), 2);
    ck_assert(s[0] == 48 && s[1] == 48);
    /* Invalid configs and kinds. */
    llama_shape odd = {256, 50, 128, 2, 6, 2}, gqa_bad = {256, 48, 128, 2, 6, 12};
    ck_assert_int_eq(llama_tensor_shape(&odd, LT_Q, s), 0);
    ck_assert_int_eq(llama_tensor_shape(&gqa_bad, LT_K, s), 0);
    ck_assert_int_eq(llama_tensor_shape(&tiny, LT_COUNT, s), 0);
}
END_TEST

/* ---- suite --------------------------------------------------------------------------------- */

static void add(Suite *s, const char *name, const TTest *t)
{
    TCase *tc = tcase_create(name);
    tcase_set_timeout(tc, 120);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, t);
    suite_add_tcase(s, tc);
}

#define ADD(s, t) add(s, #t, t)

static Suite *safetensors_suite(void)
{
    Suite *s = suite_create("safetensors");
    ADD(s, test_roundtrip_all_dtypes);
    ADD(s, test_scalar_and_zero_size);
    ADD(s, test_empty_data_area);
    ADD(s, test_streaming_chunks);
    ADD(s, test_alignment_and_file_order);
    ADD(s, test_zero_copy);
    ADD(s, test_many_tensors_lookup);
    ADD(s, test_header_text);
    ADD(s, test_corrupt_truncated);
    ADD(s, test_corrupt_header_length);
    ADD(s, test_corrupt_json);
    ADD(s, test_corrupt_entry_fields);
    ADD(s, test_corrupt_dtype);
    ADD(s, test_corrupt_numbers);
    ADD(s, test_corrupt_size_mismatch);
    ADD(s, test_corrupt_ranges);
    ADD(s, test_corrupt_duplicates);
    ADD(s, test_corrupt_metadata);
    ADD(s, test_corrupt_too_many_dims);
    ADD(s, test_io_errors);
    ADD(s, test_fuzz_header_bytes);
    ADD(s, test_writer_write_past_end);
    ADD(s, test_writer_write_after_last);
    ADD(s, test_writer_missing_bytes);
    ADD(s, test_writer_declare_after_begin);
    ADD(s, test_writer_duplicates);
    ADD(s, test_writer_bad_declarations);
    ADD(s, test_writer_abort_and_io_error);
    ADD(s, test_alloc_fail_open);
    ADD(s, test_alloc_fail_save);
    ADD(s, test_alloc_fail_model_open);
    ADD(s, test_model_sharded_index);
    ADD(s, test_model_single_file);
    ADD(s, test_model_index_errors);
    ADD(s, test_model_path_errors);
    ADD(s, test_llama_names_roundtrip);
    ADD(s, test_llama_names_rejects);
    ADD(s, test_llama_shapes);
    return s;
}

int main(void)
{
    return tl_run(safetensors_suite());
}
