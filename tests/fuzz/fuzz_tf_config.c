/* fuzz_tf_config.c: a model directory's config.json (Hugging Face Llama keys) through
 * tf_config_load, then the shape and parameter counts of a config that loads. */
#include "tests/fuzz/fuzz.h"

#include "models/tf.h"

FUZZ_TARGET(tf_config)
{
    char path[512];
    fz_file(path, sizeof path, "config.json", data, size);
    tf_config c;
    db_status s = tf_config_load(path, &c);
    fz_check_error(s);
    if (!s) {
        fz_check_error(tf_config_validate(&c));
        (void)tf_config_shape(&c);
    }
    return 0;
}
