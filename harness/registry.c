/* registry.c: the reproduction registry's rows (see registry.h). */
#include "harness/registry.h"

#include <string.h>

const rp_entry rp_entries[] = {
    {
        .id = "fig5",
        .claims = "DZ-1, DZ-2",
        .title = "DeltaZip figure 5: the ΔCompress pipeline stage by stage (size and quality)",
        .paper = "Vicuna-7B delta, 2-bit + 2:4 + GDeflate: 12,853.13 MB -> 1,303.79 MB = 9.86x with "
                 "BoolQ/LogiQA/TruthfulQA kept; compressing the whole model instead (SparseGPT "
                 "4-bit 2:4) loses accuracy (BoolQ 67.95 vs 80.92)",
        .script = "scripts/reproduce/fig5.sh",
        .plot = "plots/fig5.gp",
        .needs = "the model zoo (make models)",
        .budget = "about 8 min after the zoo; 20 s when cached",
    },
};
const size_t rp_count = sizeof rp_entries / sizeof rp_entries[0];

const rp_entry *rp_find(const char *id)
{
    for (size_t i = 0; i < rp_count; i++)
        if (!strcmp(rp_entries[i].id, id))
            return &rp_entries[i];
    return NULL;
}
