/* fuzz_params.c: method parameters as stored in a container's "params" (and given to compress
 * --params), the lossless codec name, and the workload spec strings of `trace gen`: the first
 * byte picks the parser, the rest is the text. A parse that succeeds must print back to text
 * that parses again to the same parameters. */
#include "tests/fuzz/fuzz.h"

#include "compressors/compressor.h"
#include "workloads/gen.h"

#define FZ_NMETHODS ((unsigned)dc_nmethods)

FUZZ_TARGET(params)
{
    if (size < 1)
        return 0;
    unsigned pick = data[0] % (FZ_NMETHODS + 4);
    char *text = fz_cstr(data + 1, size - 1);
    if (pick < FZ_NMETHODS) {
        const dc_method *m = dc_methods[pick];
        dc_params p;
        dc_params_default(m, &p);
        db_status s = dc_params_parse(m, text, &p);
        fz_check_error(s);
        if (!s) {
            char buf[512];
            dc_params_format(m, &p, buf, sizeof buf);
            dc_params q;
            dc_params_default(m, &q);
            if (dc_params_parse(m, buf, &q) != DB_OK) {
                fprintf(stderr, "fuzz: '%s' formats to '%s', which does not parse: %s\n", text,
                        buf, db_errmsg());
                abort();
            }
            (void)dc_params_check(m, &p, 64, 64);
        }
    } else if (pick == FZ_NMETHODS) {
        dc_lossless l;
        fz_check_error(dc_lossless_parse(text, &l));
    } else {
        wl_gen_spec g;
        memset(&g, 0, sizeof g);
        db_status s = pick == FZ_NMETHODS + 1   ? wl_arrival_parse(text, &g.arrival)
                      : pick == FZ_NMETHODS + 2 ? wl_pop_parse(text, &g.popularity)
                                                : wl_len_parse(text, &g.lengths);
        fz_check_error(s);
    }
    free(text);
    return 0;
}
