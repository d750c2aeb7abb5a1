/* device.c: CUDA device discovery that degrades to "no CUDA device" instead of failing. */
#include "kernels/device.h"

#include <string.h>

#ifdef DB_HAVE_CUDA
#include "kernels/cuda/cuda_api.h"
#endif

bool device_cuda_built(void)
{
#ifdef DB_HAVE_CUDA
    return true;
#else
    return false;
#endif
}

db_status device_query(device_info *info)
{
    memset(info, 0, sizeof *info);
#ifdef DB_HAVE_CUDA
    return cuda_device_query(info);
#else
    return db_error(DB_ERR_NO_DEVICE, "no CUDA device: this binary was built without CUDA");
#endif
}
