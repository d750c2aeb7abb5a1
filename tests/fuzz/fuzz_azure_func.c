/* fuzz_azure_func.c: an Azure Functions invocation-count CSV through azure_func_read, keeping
 * the top 1..4 functions (the first byte picks how many). */
#include "tests/fuzz/fuzz.h"

#include "workloads/azure.h"

FUZZ_TARGET(azure_func)
{
    if (size < 1)
        return 0;
    size_t top = 1 + data[0] % 4;
    char path[512];
    fz_file(path, sizeof path, "azure_func.csv", data + 1, size - 1);
    azure_func f;
    db_status s = azure_func_read(path, top, &f);
    fz_check_error(s);
    if (!s) {
        if (f.nfunc > top || f.nfunc > f.nrows)
            abort();
        for (size_t i = 1; i < f.nfunc; i++)
            if (f.totals[i] > f.totals[i - 1])
                abort();
        azure_func_free(&f);
    }
    return 0;
}
