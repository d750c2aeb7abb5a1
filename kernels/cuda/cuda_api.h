/* cuda_api.h: the C-callable entry points of the kernels/cuda sources (host side, no CUDA headers).
 *
 * Only kernels/ includes this; every entry validates its arguments and returns a db_status. */
#ifndef DB_CUDA_API_H
#define DB_CUDA_API_H

#include "core/status.h"
#include "kernels/device.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Device 0's properties; DB_ERR_NO_DEVICE when the runtime finds none (message says why). */
db_status cuda_device_query(device_info *info);

#ifdef __cplusplus
}
#endif

#endif
