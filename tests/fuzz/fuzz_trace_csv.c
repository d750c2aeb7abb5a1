/* fuzz_trace_csv.c: this project's trace CSV through trace_csv_parse (header, five fields, ids,
 * times, tokens, sorting); a table that parses is checked against the documented invariants. */
#include "tests/fuzz/fuzz.h"

#include "workloads/trace.h"

FUZZ_TARGET(trace_csv)
{
    trace_table t;
    memset(&t, 0, sizeof t);
    db_status s = trace_csv_parse("fuzz.csv", (const char *)data, size, &t);
    fz_check_error(s);
    if (!s) {
        for (size_t i = 0; i < t.n; i++) {
            const trace_req *r = &t.req[i];
            if (!(r->arrival_s >= 0 && r->arrival_s <= TRACE_ARRIVAL_MAX) || r->request_id < 0 ||
                r->prompt_tokens < 0 || r->output_tokens < 0 ||
                (i && r->arrival_s < t.req[i - 1].arrival_s)) {
                fprintf(stderr, "fuzz: row %zu breaks the trace invariants\n", i);
                abort();
            }
        }
    }
    trace_table_free(&t);
    return 0;
}
