/* device.h: what accelerator this process can use.
 *
 * Builds without CUDA and machines without a GPU both answer DB_ERR_NO_DEVICE with a clear
 * message; nothing here fails the program. */
#ifndef DB_DEVICE_H
#define DB_DEVICE_H

#include <stdbool.h>
#include <stddef.h>

#include "core/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    char name[256];          /* e.g. "NVIDIA H100 80GB HBM3" */
    int cc_major, cc_minor;  /* compute capability */
    size_t mem_bytes;        /* global memory */
    int sm_count;
} device_info;

/* True when this binary was built with CUDA. */
bool device_cuda_built(void);
/* Fills info for CUDA device 0; DB_ERR_NO_DEVICE (with a message saying why) otherwise. */
db_status device_query(device_info *info);

#ifdef __cplusplus
}
#endif

#endif
