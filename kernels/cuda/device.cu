/* device.cu: CUDA device discovery. A missing driver or GPU is an answer, not a failure. */
#include <cuda_runtime.h>
#include <string.h>

#include "kernels/cuda/cuda_api.h"

extern "C" db_status cuda_device_query(device_info *info)
{
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess || n == 0) {
        const char *why = e != cudaSuccess ? cudaGetErrorString(e) : "no device";
        cudaGetLastError(); /* clear the sticky-free error so later calls start clean */
        return db_error(DB_ERR_NO_DEVICE, "no CUDA device (%s)", why);
    }
    cudaDeviceProp p;
    e = cudaGetDeviceProperties(&p, 0);
    if (e != cudaSuccess)
        return db_error(DB_ERR_CUDA, "cudaGetDeviceProperties: %s", cudaGetErrorString(e));
    strncpy(info->name, p.name, sizeof info->name - 1);
    info->name[sizeof info->name - 1] = '\0';
    info->cc_major = p.major;
    info->cc_minor = p.minor;
    info->mem_bytes = p.totalGlobalMem;
    info->sm_count = p.multiProcessorCount;
    return DB_OK;
}
