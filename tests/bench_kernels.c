/* bench_kernels.c: `make bench`'s short CPU kernel sweep (a few minutes on 2 cores): the 1-bit
 * and 2:4 4-bit / 2-bit delta GEMV/GEMM, the dense base GEMV and the loop-of-dense baseline at
 * Llama-2-7B shapes, batch 1 and 8, 1 and 8 deltas, 3 timed calls each; writes
 * results/bench-kernels-cpu.h5. The full sweep (13B shapes, batch 64, 32 deltas, GPU) is
 * `deltabench bench-kernel` (docs/kernels.md). */
#include <stdio.h>
#include <sys/stat.h>

#include "harness/cli.h"

int main(void)
{
    mkdir("results", 0755);
    char *argv[] = {"bench-kernel", "--op", "bitdelta,sbmm,sbmm2,dense,dense-loop", "--shapes",
                    "4096x4096,11008x4096", "--batch", "1,8", "--deltas", "1,8", "--repeat", "3",
                    "--warmup", "1", "--out", "results/bench-kernels-cpu.h5", NULL};
    return cmd_bench_kernel((int)(sizeof argv / sizeof argv[0]) - 1, argv);
}
