/* h5check.h: the HDF5 targets' handle oracle: after each input, no HDF5 identifier of any kind
 * is left open, neither a file object (H5Fget_obj_count) nor a transient datatype, dataspace or
 * property list, which H5Fget_obj_count does not see.
 *
 * libhdf5 1.10 cannot count the identifiers of its own kinds (H5Inmembers refuses them), but it
 * numbers each kind's identifiers in order. So each check makes (and closes) one probe of each
 * kind, and every number between the previous check's probe and this one's was made by the
 * input in between: any of them still valid is a leak. Leaked datatypes also slow a campaign
 * down: H5Fget_obj_count walks every datatype identifier, and a leak of a few per input made
 * fuzz_trace_h5_table spend 40 % of its time there after 100,000 inputs. */
#ifndef DB_TESTS_FUZZ_H5CHECK_H
#define DB_TESTS_FUZZ_H5CHECK_H

#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>

enum { FZ_H5_KINDS = 3 };

/* A new identifier of kind k (0 datatype, 1 dataspace, 2 property list), closed at once. */
static hid_t fz_h5_probe(int k)
{
    hid_t id = k == 0 ? H5Tcopy(H5T_NATIVE_INT)
               : k == 1 ? H5Screate(H5S_SCALAR)
                        : H5Pcreate(H5P_FILE_ACCESS);
    if (id < 0) {
        fprintf(stderr, "fuzz: cannot make an HDF5 probe identifier\n");
        abort();
    }
    (k == 0 ? H5Tclose : k == 1 ? H5Sclose : H5Pclose)(id);
    return id;
}

static void fz_check_hdf5_closed(void)
{
    static const char *const kind[FZ_H5_KINDS] = {"datatype", "dataspace", "property list"};
    static hid_t last[FZ_H5_KINDS];
    ssize_t open_ = H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL);
    if (open_ != 0) {
        fprintf(stderr, "fuzz: %zd HDF5 objects left open\n", open_);
        abort();
    }
    for (int k = 0; k < FZ_H5_KINDS; k++) {
        hid_t now = fz_h5_probe(k);
        for (hid_t id = last[k] ? last[k] + 1 : now; id < now; id++)
            if (H5Iis_valid(id) > 0) {
                fprintf(stderr, "fuzz: an HDF5 %s identifier (%lld) left open\n", kind[k],
                        (long long)id);
                abort();
            }
        last[k] = now;
    }
}
#define FZ_CHECK_HDF5_CLOSED() fz_check_hdf5_closed()

#endif
