/* fuzz_hw_profile.c: a hardware profile or calibration overlay (the same key = value format)
 * parsed over a compiled-in profile, as `--hw FILE` and `--calib FILE` do, then checked. */
#include "tests/fuzz/fuzz.h"

#include "serve/hw.h"

FUZZ_TARGET(hw_profile)
{
    hw_profile p;
    if (hw_profile_builtin(&p, hw_profile_names[0]) != DB_OK)
        abort();
    char *text = fz_cstr(data, size);
    db_status s = hw_profile_parse(&p, text, "fuzz.txt");
    fz_check_error(s);
    if (!s) {
        fz_check_error(hw_profile_check(&p));
        if (p.neff < 0 || p.neff > HW_MAX_EFF)
            abort();
        for (int i = 0; i < p.neff; i++)
            if (hw_eff(&p, p.eff[i].key, -1) < 0 && p.eff[i].value >= 0)
                abort();
    }
    free(text);
    return 0;
}
