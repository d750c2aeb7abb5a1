/* fuzz_azure_llm.c: an Azure LLM inference trace CSV (TIMESTAMP,ContextTokens,GeneratedTokens)
 * through azure_llm_read, then trace_read of the same file (format detection). */
#include "tests/fuzz/fuzz.h"

#include "workloads/azure.h"
#include "workloads/trace.h"

FUZZ_TARGET(azure_llm)
{
    char path[512];
    fz_file(path, sizeof path, "azure_llm.csv", data, size);
    trace_table t;
    db_status s = azure_llm_read(path, &t);
    fz_check_error(s);
    if (!s) {
        for (size_t i = 1; i < t.n; i++)
            if (t.req[i].arrival_s < t.req[i - 1].arrival_s || t.req[0].arrival_s != 0)
                abort();
        trace_table_free(&t);
    }
    trace_table u;
    s = trace_read(path, &u);
    fz_check_error(s);
    if (!s)
        trace_table_free(&u);
    return 0;
}
