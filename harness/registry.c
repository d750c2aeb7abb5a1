/* registry.c: the reproduction registry's rows (see registry.h). */
#include "harness/registry.h"

#include <string.h>

/* BD-2 from bd2.csv (one row per shape and method): the BitDelta rows' whole-checkpoint ratio,
 * against the paper's number restated in one unit, then against the claim's 10x. */
static const vd_rule bd2_rules[] = {
    {"BD-2", "reproduced", "method=bitdelta", "ratio_whole", "paper_one_unit", NULL, NULL, "shape",
     VD_WITHIN, 0.98, 1.02,
     "the paper's per-model numbers, restated with both sides in GB, are what we recount; 2 % "
     "covers what two exact accountings can differ by (the container header, stored norms)"},
    {"BD-2", "reproduced in trend", "method=bitdelta", "ratio_whole", NULL, NULL, NULL, "shape",
     VD_AT_LEAST, 10, 0, "the claim is a footprint more than 10x smaller than the fp16 fine-tune"},
};

/* DZ-5 from dz5.csv: the serving format's delta load against the full model's, with the
 * interval of the speed-up over interleaved rounds of cold reads. */
static const vd_rule dz5_rules[] = {
    {"DZ-5", "reproduced", "serving=1", "speedup", "paper_speedup", "speedup_lo", "speedup_hi",
     "name", VD_AT_LEAST, 0.5, 0,
     "the paper's ~21x (32 s against 1.5 s, its artifact logs) is a single logged run: half of it, "
     "at the whole interval, is what a different disk could still be said to reproduce"},
    {"DZ-5", "reproduced in trend", "serving=1", "speedup", NULL, "speedup_lo", "speedup_hi",
     "name", VD_AT_LEAST, 2, 0,
     "the claim's substance is that a delta loads far faster than a model; 2x at the whole "
     "interval is the least that says so"},
};

/* DZ-6 and BD-3 from dz6.csv (one row per part, count and baseline): the served layer's speed-up
 * over each baseline, the ratio of medians over interleaved rounds with its paired interval. */
static const vd_rule dz6_rules[] = {
    {"DZ-6", "reproduced", "part=dz6", "speedup", NULL, "speedup_lo", "speedup_hi", "label",
     VD_AT_LEAST, 1, 0,
     "the claim is that one batched call beats running each model's matmul separately across the "
     "paper's benchmark, so the whole interval must lie above 1 at every D, against the per-delta "
     "loop and against separate fp16 models"},
    {"DZ-6", "reproduced in trend", "part=dz6;largest=1", "speedup", NULL, "speedup_lo",
     "speedup_hi", "label", VD_AT_LEAST, 1, 0,
     "the paper's gain grows with the number of deltas: beating both loops, whole interval, at the "
     "largest D is the trend"},
    {"BD-3", "reproduced", "part=bd3;baseline=dense-loop;largest=1", "speedup", "paper_speedup",
     "speedup_lo", "speedup_hi", "label", VD_AT_LEAST, 0.9, 0,
     "the claim is a speed-up over separate models of about the paper's 2.5x (figure-read, 64 "
     "tenants); at least 90 % of it over the whole interval reproduces it, and more is still "
     "'faster'"},
    {"BD-3", "reproduced in trend", "part=bd3;baseline=dense-loop", "speedup", NULL, "speedup_lo",
     "speedup_hi", "label", VD_AT_LEAST, 1, 0,
     "the claim's substance is that one base plus batched 1-bit deltas is faster than separate "
     "models: the whole interval above 1 at every tenant count says so"},
};

/* DZ-3 and DZ-4 from dz3.csv (simulated: the `sim` executor): one row per load setting,
 * popularity and comparison of DeltaZip against swap-6, over the offered rates (the gain at its
 * best rate, the latency ratios and SLO gaps at their worst), the median over trace seeds with
 * the seeds' range as the interval. Tier 1 asks it of both load settings; tier 2 of the load
 * rates DeltaZip's own artifact logs imply, the setting closest to the paper's. */
static const vd_rule dz3_rules[] = {
    {"DZ-3 (simulated)", "reproduced", "metric=throughput_gain", "value", NULL, "lo", "hi",
     "label", VD_AT_LEAST, 2, 0,
     "the claim is at least 2x swapping's throughput (up to 12x) in the paper's grid; each load "
     "setting and popularity must reach the lower end at its best offered rate, on every seed"},
    {"DZ-3 (simulated)", "reproduced in trend", "metric=throughput_gain;loads=artifact", "value",
     NULL, "lo", "hi", "label", VD_AT_LEAST, 1.1, 0,
     "with the load rates the artifact's logs imply, DeltaZip ahead by more than 10 % in every "
     "popularity is the claim's direction; at 0.5-2 req/s it serves every arrival, so a gain shows "
     "only where swapping saturates"},
    {"DZ-4 (latency, simulated)", "reproduced", "group=latency", "value", NULL, "lo", "hi",
     "label", VD_AT_LEAST, 1, 0,
     "lower latency means swap's mean E2E latency and mean TTFT over DeltaZip's at least 1 at "
     "every offered rate (the worst rate is the row), on every seed"},
    {"DZ-4 (latency, simulated)", "reproduced in trend", "group=latency;loads=artifact", "value",
     NULL, "lo", "hi", "label", VD_AT_LEAST, 1, 0,
     "the same with the artifact's load rates only, the setting closest to the paper's"},
    {"DZ-4 (SLO, simulated)", "reproduced", "metric=slo_min_pp", "value", NULL, "lo", "hi",
     "label", VD_AT_LEAST, 0, 0,
     "better SLO attainment means DeltaZip's attainment never below swap's at any threshold of "
     "the paper's sweep (1 s upward in 0.5 s steps, here to 30 s), for E2E and TTFT, at every "
     "offered rate, on every seed: the least gap in percentage points is at least 0"},
    {"DZ-4 (SLO, simulated)", "reproduced in trend", "metric=slo_min_pp;loads=artifact", "value",
     NULL, "lo", "hi", "label", VD_AT_LEAST, 0, 0,
     "the same with the artifact's load rates only, the setting closest to the paper's"},
};

/* BD-4 from bd4.csv: the kernel executor's peak resident memory, measured at Llama-2-7B's
 * widths with 1-4 layers and scaled by exact tensor sizes to Llama-2-7B on one 80 GB GPU; the
 * interval is the range of the measured bytes per allocated byte over the layer counts. */
static const vd_rule bd4_rules[] = {
    {"BD-4", "reproduced", "metric=per_tenant_gb", "value", "paper", "lo", "hi", "label",
     VD_WITHIN, 0.9, 1.1,
     "the paper states a value, base + B x 1.3 GB; 10 % either side covers what two accountings "
     "of one tenant's 1-bit delta and fp16 remainder can differ by"},
    {"BD-4", "reproduced in trend", "metric=tenants_ratio", "value", NULL, "lo", "hi", "label",
     VD_AT_LEAST, 2, 0,
     "the claim's substance is that one GPU holds many more tenants as 1-bit deltas over one "
     "base than as fp16 models: at least twice as many"},
};

/* DQ-2 from dq2.csv (per zoo size and ratio setting; scripts/reproduce/dq2.sh): DeltaDQ at 128x
 * on the math fine-tune's exact match, then on the bits per byte of every fine-tune, each over
 * every zoo size with its interval (Wilson over prompts; t over the dropout seeds). */
static const vd_rule dq2_rules[] = {
    {"DQ-2", "reproduced", "target=128;task=arith;metric=acc", "gain", "ft_gain", "gain_lo",
     "gain_hi", "label", VD_AT_LEAST, 0.9, 0,
     "the paper's 128x is WizardMath-7B keeping its GSM8K accuracy, an exact-match math score: "
     "our arith fine-tune keeping 90 % of its exact-match gain, over the whole interval, is the "
     "closest test this zoo has"},
    {"DQ-2", "reproduced in trend", "target=128;task=mean;metric=bpb_kept", "value", NULL, "lo",
     "hi", "label", VD_AT_LEAST, 0.9, 0,
     "90 % of the fine-tuning gain in bits per byte, averaged over the fine-tunes, at 128x says "
     "the delta's effect survives even where exact answers, the stricter test, do not"},
};

/* DZ-1 (size) from dz1.csv: the Llama-2-7B whole-checkpoint ratio of 2:4 + 2-bit + DEFLATE on
 * synthetic deltas fitted to the zoo's, with its interval over the fitted range, against the
 * paper's 9.86x, then against half of it. */
static const vd_rule dz1_rules[] = {
    {"DZ-1 (size)", "reproduced", "kind=interval", "ratio_deflate", "paper", "ratio_lo",
     "ratio_hi", "model", VD_WITHIN, 0.8, 1.25,
     "the paper's 9.86x is one checkpoint under GDeflate over dense codes; our layout (kept codes "
     "+ in-group indices) and DEFLATE on a fitted, not the real, delta can differ by a fifth "
     "either way, and the whole fitted range must agree"},
    {"DZ-1 (size)", "reproduced in trend", "kind=interval", "ratio_deflate", "paper", "ratio_lo",
     "ratio_hi", "model", VD_AT_LEAST, 0.5, 0,
     "the claim says deltas compress 'up to 10x'; half the paper's ratio over the whole fitted "
     "range still says a 2-bit 2:4 delta is several times smaller, below it the claim's size "
     "is not what these deltas give"},
};

/* BD-1 from bd1.csv: the share of the fine-tuning gain the 1-bit delta keeps after scale
 * distillation in the paper's setting (800 steps on general English, logit MSE), for every
 * fine-tune and their mean, each with its interval; where 800 steps did not finish here, the
 * English / MSE run of the most steps measured (bd1.sh marks the rows read: verdict=1, and names
 * each row's setting). */
static const vd_rule bd1_rules[] = {
    {"BD-1", "reproduced", "verdict=1", "kept", NULL, "kept_lo", "kept_hi", "name", VD_AT_LEAST,
     0.9, 0,
     "BitDelta's distilled 1-bit Vicuna-7B stays within a point of the fp16 fine-tune "
     "(TruthfulQA 49.97 vs 50.36): every fine-tune keeping at least 90 % of its gain over its "
     "whole interval, in the paper's own distillation setting (its text and loss at the most "
     "steps measured), is that claim on the zoo"},
    {"BD-1", "reproduced in trend", "verdict=1", "kept", NULL, "kept_lo", "kept_hi", "name",
     VD_AT_LEAST, 0.75, 0,
     "three quarters of the gain kept over the whole interval still says the delta survives "
     "1-bit quantisation, with a visible loss the paper does not report"},
};

/* DZ-1 (quality) from fig5.csv: the share of the fine-tuning gain kept after 2:4 + 2-bit, one
 * row per zoo fine-tune and metric (group=dz1q: bits per byte, and exact match where the task
 * has it), and their mean (group=dz1qmean: the mean of the values and of the interval bounds). */
static const vd_rule fig5_rules[] = {
    {"DZ-1 (quality)", "reproduced", "group=dz1q", "kept", NULL, "kept_lo", "kept_hi", "item",
     VD_AT_LEAST, 0.9, 0,
     "the paper's 2-bit + 2:4 delta keeps its fine-tune's benchmark scores within a few points; "
     "here every fine-tune must keep at least 90 % of its gain on every metric, with the whole "
     "interval"},
    {"DZ-1 (quality)", "reproduced in trend", "group=dz1qmean", "kept", NULL, "kept_lo",
     "kept_hi", "item", VD_AT_LEAST, 0.9, 0,
     "on average over the fine-tunes and metrics (the mean of the interval bounds), at least "
     "90 % of the gain is kept"},
};

/* DZ-2 from dz2.csv: per fine-tune, the delta's ratio at 2:4 + 2-bit over the ratio the whole
 * model reaches at the delta's quality there (read on the whole model's quality-ratio curve),
 * on the task's primary metric, with the interval the quality intervals carry. */
static const vd_rule dz2_rules[] = {
    {"DZ-2", "reproduced", "side=readoff;primary=1", "advantage", NULL, "adv_lo", "adv_hi",
     "model", VD_AT_LEAST, 1.5, 0,
     "the paper's delta reaches 9.86x where the whole model reaches 5.26x (SparseGPT) or 3.46x "
     "(AWQ) at comparable quality, 1.87x and 2.85x more; 1.5x at the whole interval, for every "
     "fine-tune, is that advantage less what a different model and task can take off it"},
    {"DZ-2", "reproduced in trend", "side=readoff;primary=1", "advantage", NULL, "adv_lo",
     "adv_hi", "model", VD_AT_LEAST, 1, 0,
     "the claim's substance is that compressing the delta beats compressing the whole model: "
     "at equal quality the delta must reach the higher ratio (above 1x), for every fine-tune"},
};

/* DQ-1 from equal.csv: at exactly 16x (interpolated between settings), DeltaDQ's gain kept
 * minus each baseline's, interval [dq_lo - b_hi, dq_hi - b_lo], on the primary metric. */
static const vd_rule equal_rules[] = {
    {"DQ-1", "reproduced", "kind=dq1", "diff", NULL, "diff_lo", "diff_hi", "name", VD_AT_LEAST,
     -0.02, 0,
     "the claim is accuracy at or above the baselines at 16x: DeltaDQ may not trail any baseline "
     "by more than 2 points of the gain kept, on every fine-tune, with the whole interval; where "
     "the intervals overlap the threshold the data cannot decide (a tie); a fine-tune where "
     "DeltaDQ does not reach 16x has no dq_at_16x and fails the claim",
     "dq_at_16x"},
    {"DQ-1", "reproduced in trend", "kind=dq1mean", "diff", NULL, "diff_lo", "diff_hi", "name",
     VD_AT_LEAST, -0.02, 0,
     "the same on the mean over the tasks per zoo size: at or above every baseline on average",
     "dq_at_16x"},
};

#define RULES(r) .rules = (r), .nrules = sizeof(r) / sizeof((r)[0])

const rp_entry rp_entries[] = {
    {
        .id = "fig5",
        .claims = "DZ-1 (quality)",
        .title = "DeltaZip figure 5: the ΔCompress pipeline stage by stage (size and quality)",
        .paper = "Vicuna-7B delta, 2-bit + 2:4 + GDeflate: 12,853.13 MB -> 1,303.79 MB = 9.86x with "
                 "BoolQ/LogiQA/TruthfulQA kept",
        .script = "scripts/reproduce/fig5.sh",
        .plot = "plots/fig5.gp",
        .needs = "the model zoo (make models)",
        .make_needs = "models",
        .budget = "about 6 min after the zoo (365 s measured, both zoo sizes, load 1-3; sequential "
                  "calibration); 40 s when cached",
        RULES(fig5_rules),
    },
    {
        .id = "bd2",
        .claims = "BD-2",
        .title = "BitDelta: per-model footprint of the 1-bit delta on Llama-shaped checkpoints",
        .paper = ">10x smaller per fine-tune: Llama-2-7B 13.48 GB -> 1.24 GB (10.87x as GB over GiB, "
                 "10.10x in one unit), Llama-2-13B 12.45x, Llama-2-70B 15.41x, Mistral-7B 11.14x",
        .script = "scripts/reproduce/bd2.sh",
        .plot = "plots/bd2.gp",
        .needs = "nothing (synthetic pairs, 3.4 GB of scratch disk for the 70B layer)",
        .budget = "about 2-4 min; 2 s when cached",
        RULES(bd2_rules),
    },
    {
        .id = "dz3",
        .claims = "DZ-3, DZ-4",
        .title = "DeltaZip serving: throughput, latency and SLO attainment against model swapping",
        .paper = "2x-12x the throughput of vLLM with model swapping and lower latency / better SLO "
                 "attainment: Llama-2-13B, TP 4, 32 variants, Poisson 0.5-2 req/s, uniform / Zipf "
                 "1.5, 300 s; swap keeps 6 fp16 models, DeltaZip 8 or 12 deltas",
        .script = "scripts/reproduce/dz3.sh",
        .plot = "plots/dz3.gp",
        .needs = "nothing (sim executor)",
        .budget = "about 30 s (21 s measured on an idle 2-core machine, 3 trace seeds); 10 s when "
                  "cached",
        RULES(dz3_rules),
    },
    {
        .id = "dz5",
        .claims = "DZ-5",
        .title = "DeltaZip: loading a delta against loading a full model, disk to RAM",
        .paper = "Llama-2-13B: a delta ~1.5 s from disk and ~13 ms host to GPU, the full model "
                 "~32 s and ~2 s (artifact logs)",
        .script = "scripts/reproduce/dz5.sh",
        .plot = "plots/dz5.gp",
        .needs = "nothing (a synthetic 13B-shaped layer; 1.4 GB of scratch disk)",
        .budget = "about 1 min; 1 s when cached",
        RULES(dz5_rules),
    },
    {
        .id = "dz6",
        .claims = "DZ-6, BD-3",
        .title = "Batched multi-delta kernels (SBMM, 1-bit) against per-model loops",
        .paper = "DeltaZip: SBMM beats a per-model loop (100 requests over 2..100 deltas, m = k = "
                 "2048, Zipf 2.0); BitDelta: the batched 1-bit kernel ~2x faster than separate "
                 "models at 64 tenants (N = M = 8192, 7.1 vs 2.8 ms figure-read)",
        .script = "scripts/reproduce/dz6.sh",
        .plot = "plots/dz6.gp",
        .needs = "nothing (random weights; 10 GB of memory for 64 fp16 8192 x 8192 deltas)",
        .budget = "about 75 s on an idle machine (73 s measured; 12 min at load 15-24 on the 2 "
                  "cores); 2 s when cached",
        RULES(dz6_rules),
    },
    {
        .id = "bd4",
        .claims = "BD-4",
        .title = "BitDelta serving: memory against the number of tenants, measured and scaled",
        .paper = "memory stays near one base model as tenants grow: base + B x 1.3 GB for "
                 "Llama-2-7B, where serving every fp16 model runs out of memory",
        .script = "scripts/reproduce/bd4.sh",
        .plot = "plots/bd4.gp",
        .needs = "nothing (cpu-kernels executor at 1-4 layers; 6 GB of memory)",
        .budget = "about 1 min (54 s measured on an idle 2-core machine); 5 s when cached",
        RULES(bd4_rules),
    },
    {
        .id = "methods",
        .claims = "",
        .title = "Every delta-compression method at equal bytes (16x..512x) on the model zoo",
        .paper = "BitDelta: 1-bit deltas keep quality (Vicuna-7B TruthfulQA 49.97 vs 50.36), scale "
                 "distillation helps (47.63 without); DeltaDQ: 16x at or above the baselines",
        .script = "scripts/reproduce/methods.sh",
        .plot = "plots/methods.gp",
        .needs = "the model zoo (make models)",
        .make_needs = "models",
        .budget = "about 2 min after the zoo (SIZES=small); 25 s when cached",
    },
    {
        .id = "dq2",
        .claims = "DQ-2",
        .title = "DeltaDQ at 16x, 32x, 64x and 128x on the model zoo, over dropout seeds",
        .paper = "DeltaDQ: 128x compression of WizardMath-7B and 512x of WizardMath-70B keep "
                 "quality (GSM8K accuracy)",
        .script = "scripts/reproduce/dq2.sh",
        .plot = "plots/dq2.gp",
        .needs = "the model zoo (make models)",
        .make_needs = "models",
        .budget = "about 3 min after the zoo (168 s measured, both zoo sizes, in the timed "
                  "make reproduce-all of 2026-12-07 at load 12-18); 1 min when cached",
        RULES(dq2_rules),
    },
    {
        .id = "dz1",
        .claims = "DZ-1 (size)",
        .title = "DeltaZip DZ-1 (size): Llama-2-7B's ratio on synthetic deltas fitted to the zoo's",
        .paper = "Vicuna-7B delta, 2-bit + 2:4 + GDeflate: 12,853.13 MB -> 1,303.79 MB = 9.86x "
                 "(\"up to 10x\")",
        .script = "scripts/reproduce/dz1.sh",
        .plot = "plots/dz1.gp",
        .needs = "the model zoo (make models); 0.5 GB of scratch disk for a Llama-2-7B layer",
        .make_needs = "models",
        .budget = "about 2 min after the zoo (129 s measured in the timed make reproduce-all at "
                  "load 12-18: a 72-point grid and 4-6 Llama-2-7B layers); 5 s when cached",
        RULES(dz1_rules),
    },
    {
        .id = "bd1",
        .claims = "BD-1",
        .title = "BitDelta BD-1: the 1-bit delta's quality under a scale-distillation ablation",
        .paper = "Vicuna-7B v1.5, 1-bit with scale distillation (800 steps on C4, logit MSE): "
                 "TruthfulQA 49.97 vs 50.36 fp16, GSM8K 20.17 vs 19.03; without distillation "
                 "47.63 / 19.56",
        .script = "scripts/reproduce/bd1.sh",
        .plot = "plots/bd1.gp",
        .needs = "the model zoo (make models)",
        .make_needs = "models",
        .budget = "about 18 min after the zoo (1081 s measured in the timed make reproduce-all at "
                  "load 12-18: 10 distillations of 800 steps, 2 at a time, 32 evaluations); 5 s "
                  "when cached",
        RULES(bd1_rules),
    },
    {
        .id = "dz2",
        .claims = "DZ-2",
        .title = "DeltaZip DZ-2: the delta against the whole model, ratio at equal quality",
        .paper = "at comparable quality the delta compresses 9.86x (2:4 + 2-bit + GDeflate), the "
                 "whole fine-tuned model 5.26x (SparseGPT 4-bit 2:4, BoolQ 67.95 against 80.92) or "
                 "3.46x (AWQ 4-bit g128, BoolQ 81.22)",
        .script = "scripts/reproduce/dz2.sh",
        .plot = "plots/dz2.gp",
        .needs = "the model zoo (make models)",
        .make_needs = "models",
        .budget = "about 6 min after the zoo (353 s measured, both zoo sizes, idle 2-core machine); "
                  "1 min when cached",
        RULES(dz2_rules),
    },
    {
        .id = "equal",
        .claims = "DQ-1",
        .title = "Every method at truly equal bytes: quality read at exactly 8x, 16x and 32x",
        .paper = "DeltaDQ: 16x compression with accuracy at or above the baselines (WizardMath / "
                 "WizardCoder 7B-70B, against BitDelta, DARE, magnitude pruning, low rank, "
                 "DeltaZip)",
        .script = "scripts/reproduce/equal.sh",
        .plot = "plots/equal.gp",
        .needs = "the model zoo (make models)",
        .make_needs = "models",
        .budget = "about 6 min after the zoo (375 s measured, both zoo sizes, in the timed make "
                  "reproduce-all at load 12-18); 1 min when cached",
        RULES(equal_rules),
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
