/* fsutil.c: atomic output files and whole-file reads. */
#include "core/fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"

void fs_tmp_name(const char *final, char *buf, size_t n)
{
    snprintf(buf, n, "%s.tmp.%ld", final, (long)getpid());
}

db_status fs_commit(const char *tmp, const char *final)
{
    int fd = open(tmp, O_RDONLY);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    if (rename(tmp, final) != 0) {
        int e = errno;
        unlink(tmp);
        return db_error(DB_ERR_IO, "%s: cannot rename from %s: %s", final, tmp, strerror(e));
    }
    return DB_OK;
}

void fs_abort(const char *tmp) { unlink(tmp); }

db_status fs_read_all(const char *path, char **out, size_t *len)
{
    *out = NULL;
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return db_error(DB_ERR_IO, "%s: %s", path, strerror(errno));
    size_t cap = 1 << 16, n = 0;
    char *buf = db_malloc(cap);
    if (!buf) {
        fclose(fp);
        return db_error(DB_ERR_NOMEM, "%s: out of memory", path);
    }
    for (;;) {
        if (n + 1 >= cap) {
            char *nb = db_realloc(buf, cap * 2);
            if (!nb) {
                db_free(buf);
                fclose(fp);
                return db_error(DB_ERR_NOMEM, "%s: out of memory", path);
            }
            buf = nb;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - 1 - n, fp);
        n += got;
        if (got == 0)
            break;
    }
    int err = ferror(fp);
    fclose(fp);
    if (err) {
        db_free(buf);
        return db_error(DB_ERR_IO, "%s: read error", path);
    }
    buf[n] = '\0';
    *out = buf;
    if (len)
        *len = n;
    return DB_OK;
}

db_status fs_out_open(fs_out *o, const char *path)
{
    memset(o, 0, sizeof *o);
    if (strcmp(path, "-") == 0) {
        o->fp = stdout;
        return DB_OK;
    }
    size_t n = strlen(path) + 32;
    o->final = db_strdup(path);
    o->tmp = db_malloc(n);
    if (!o->final || !o->tmp) {
        db_free(o->final);
        db_free(o->tmp);
        return db_error(DB_ERR_NOMEM, "%s: out of memory", path);
    }
    fs_tmp_name(path, o->tmp, n);
    o->fp = fopen(o->tmp, "wb");
    if (!o->fp) {
        db_status s = db_error(DB_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
        db_free(o->final);
        db_free(o->tmp);
        o->final = o->tmp = NULL;
        return s;
    }
    return DB_OK;
}

db_status fs_out_commit(fs_out *o)
{
    db_status s = DB_OK;
    if (o->fp == stdout) {
        if (fflush(stdout) != 0)
            s = db_error(DB_ERR_IO, "stdout: write error");
    } else if (o->fp) {
        int bad = ferror(o->fp);
        if (fclose(o->fp) != 0 || bad) {
            s = db_error(DB_ERR_IO, "%s: write error", o->final);
            fs_abort(o->tmp);
        } else {
            s = fs_commit(o->tmp, o->final);
        }
    }
    db_free(o->final);
    db_free(o->tmp);
    memset(o, 0, sizeof *o);
    return s;
}

void fs_out_abort(fs_out *o)
{
    if (o->fp && o->fp != stdout) {
        fclose(o->fp);
        fs_abort(o->tmp);
    }
    db_free(o->final);
    db_free(o->tmp);
    memset(o, 0, sizeof *o);
}
