/* nightly_dash.c: the static nightly dashboard: DIR/index.html (regressions first, a table of
 * every metric with its last value, baseline, change, an inline SVG sparkline, status, and a
 * link to the HDF5 it came from) and one gnuplot SVG trend plot per metric group in DIR/plots/.
 *
 * Self-contained: inline CSS, inline SVG sparklines, plots linked by relative path, one inline
 * script that only marks on <body> how many plots loaded (the browser test reads it from the
 * DOM). Every file is written under a temporary name and renamed; the page comes last, so it
 * never links to a plot that failed. */
#include "harness/nightly.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/fsutil.h"

extern char **environ;

enum { DASH_PATH = 4096, DASH_GROUP = 64 };

/* ---- paths --------------------------------------------------------------------------------- */

/* mkdir -p. */
static db_status mkdirs(const char *dir)
{
    char p[DASH_PATH];
    if (snprintf(p, sizeof p, "%s", dir) >= (int)sizeof p)
        return db_error(DB_ERR_ARG, "%s: path too long", dir);
    for (char *s = p + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        if (mkdir(p, 0777) != 0 && errno != EEXIST)
            return db_error(DB_ERR_IO, "%s: %s", p, strerror(errno));
        *s = '/';
    }
    if (mkdir(p, 0777) != 0 && errno != EEXIST)
        return db_error(DB_ERR_IO, "%s: %s", p, strerror(errno));
    return DB_OK;
}

/* Absolute, lexically normalised form of path (".", ".." and repeated '/' removed). */
static bool abs_norm(const char *path, char *out, size_t n)
{
    char buf[DASH_PATH];
    if (path[0] == '/') {
        if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
            return false;
    } else {
        char cwd[DASH_PATH];
        if (!getcwd(cwd, sizeof cwd) || snprintf(buf, sizeof buf, "%s/%s", cwd, path) >= (int)sizeof buf)
            return false;
    }
    size_t len = 0;
    out[0] = '\0';
    char *save = NULL;
    for (char *seg = strtok_r(buf, "/", &save); seg; seg = strtok_r(NULL, "/", &save)) {
        if (!strcmp(seg, "."))
            continue;
        if (!strcmp(seg, "..")) {
            char *slash = strrchr(out, '/');
            len = slash ? (size_t)(slash - out) : 0;
            out[len] = '\0';
            continue;
        }
        size_t sl = strlen(seg);
        if (len + sl + 2 > n)
            return false;
        out[len++] = '/';
        memcpy(out + len, seg, sl + 1);
        len += sl;
    }
    if (!len) {
        if (n < 2)
            return false;
        strcpy(out, "/");
    }
    return true;
}

/* Path of target relative to directory dir (both relative to the working directory or
 * absolute); falls back to target itself when either is too long. */
static void rel_path(const char *dir, const char *target, char *out, size_t n)
{
    char a[DASH_PATH], b[DASH_PATH];
    if (!abs_norm(dir, a, sizeof a) || !abs_norm(target, b, sizeof b)) {
        snprintf(out, n, "%s", target);
        return;
    }
    /* common prefix, at segment boundaries */
    size_t i = 0, common = 0;
    while (a[i] && a[i] == b[i]) {
        i++;
        if (a[i] == '/' || (a[i] == '\0' && b[i] == '/'))
            common = i;
    }
    if (a[i] == '\0' && b[i] == '\0')
        common = i;
    if (!strcmp(a, "/"))
        common = 0;
    size_t len = 0;
    out[0] = '\0';
    for (const char *p = a + common; *p; p++)
        if (*p == '/' && len + 4 < n) {
            memcpy(out + len, "../", 4);
            len += 3;
        }
    const char *rest = b + common + (b[common] == '/');
    snprintf(out + len, n - len, "%s", rest);
}

/* ---- text ---------------------------------------------------------------------------------- */

static void html_esc(FILE *f, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\'': fputs("&#39;", f); break;
        default: fputc(*s, f);
        }
    }
}

/* A URL path: percent-encodes what is not safe in an href. */
static void url_esc(FILE *f, const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            strchr("/._-~+", c))
            fputc(c, f);
        else
            fprintf(f, "%%%02X", c);
    }
}

/* The group of a metric (text before the first '/'), made safe for a file name. */
static void group_of(const char *metric, char *out, size_t n)
{
    size_t i = 0;
    for (; metric[i] && metric[i] != '/' && i + 1 < n; i++) {
        char c = metric[i];
        out[i] = ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '_')
                     ? c
                     : '_';
    }
    out[i] = '\0';
    if (!i)
        snprintf(out, n, "other");
}

static const char *dir_word(const char *d)
{
    return !strcmp(d, "lower") ? "lower is better" : !strcmp(d, "higher") ? "higher is better"
                                                                            : "any change counts";
}

/* ---- gnuplot ------------------------------------------------------------------------------- */

/* Runs `gnuplot script` with stdout to /dev/null and stderr to errlog. */
static db_status run_gnuplot(const char *gnuplot, const char *script, const char *errlog)
{
    posix_spawn_file_actions_t fa;
    if (posix_spawn_file_actions_init(&fa) != 0)
        return db_error(DB_ERR_NOMEM, "%s: cannot prepare gnuplot", script);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, errlog, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    char *argv[] = {(char *)gnuplot, (char *)script, NULL};
    pid_t pid;
    int rc = posix_spawnp(&pid, gnuplot, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0)
        return db_error(DB_ERR_IO, "%s: cannot run %s: %s", script, gnuplot, strerror(rc));
    int ws;
    while (waitpid(pid, &ws, 0) < 0)
        if (errno != EINTR)
            return db_error(DB_ERR_IO, "%s: waiting for gnuplot: %s", script, strerror(errno));
    if (!WIFEXITED(ws) || WEXITSTATUS(ws) != 0) {
        char line[256] = "";
        FILE *e = fopen(errlog, "r");
        if (e) {
            char buf[256];
            while (fgets(buf, sizeof buf, e))
                if (buf[0] != '\n')
                    snprintf(line, sizeof line, "%s", buf);
            fclose(e);
        }
        line[strcspn(line, "\n")] = '\0';
        return db_error(DB_ERR_IO, "%s: gnuplot failed%s%s", script, line[0] ? ": " : "", line);
    }
    return DB_OK;
}

/* First run number drawn: the last plot_runs runs of the machine. */
static int64_t first_drawn_run(const nt_history *h, const char *machine, int plot_runs)
{
    /* runs are non-decreasing in file order: walk back counting distinct runs */
    int64_t prev = -1, first = 0;
    int cnt = 0;
    for (size_t i = h->n; i-- > 0;) {
        if (strcmp(h->rows[i].machine, machine))
            continue;
        if (h->rows[i].run != prev) {
            if (cnt == plot_runs)
                break;
            prev = first = h->rows[i].run;
            cnt++;
        }
    }
    return first;
}

/* Writes DIR/plots/GROUP.gp and renders DIR/plots/GROUP.svg from it. */
/* gnuplot exits 0 even when its output could not be written (a full disk): a plot counts as
 * written when the file ends with the closing </svg> tag. */
static bool svg_complete(const char *path)
{
    char tail[32] = {0};
    FILE *f = fopen(path, "rb");
    if (!f)
        return false;
    bool ok = fseek(f, -(long)(sizeof tail - 1), SEEK_END) == 0 &&
              fread(tail, 1, sizeof tail - 1, f) == sizeof tail - 1 && strstr(tail, "</svg>");
    fclose(f);
    return ok;
}

static db_status plot_group(const nt_history *h, const nt_verdict *v, size_t nv,
                            const char *group, const char *machine, int64_t run0,
                            const char *plots, const nt_dash_opts *o)
{
    char gp[DASH_PATH], svg[DASH_PATH], svgtmp[DASH_PATH + 32], err[DASH_PATH + 32];
    if (snprintf(gp, sizeof gp, "%s/%s.gp", plots, group) >= (int)sizeof gp ||
        snprintf(svg, sizeof svg, "%s/%s.svg", plots, group) >= (int)sizeof svg)
        return db_error(DB_ERR_ARG, "%s: path too long", plots);
    fs_tmp_name(svg, svgtmp, sizeof svgtmp);
    if (snprintf(err, sizeof err, "%s.log", svgtmp) >= (int)sizeof err)
        return db_error(DB_ERR_ARG, "%s: path too long", plots);
    fs_out out;
    db_status st = fs_out_open(&out, gp);
    if (st != DB_OK)
        return st;
    FILE *f = out.fp;
    fprintf(f, "# %s.gp: trend of the '%s' nightly metrics on %s, written by deltabench nightly "
               "dashboard.\n# Each metric is drawn relative to its own median over the runs "
               "shown (100 %% = median).\n",
            group, group, machine);
    fprintf(f, "set terminal svg size 960,420 dynamic font 'sans,11' background rgb 'white'\n"
               "set output '%s'\nset termoption noenhanced\nset encoding utf8\n", svgtmp);
    fprintf(f, "set title '%s on %s: value / median of the runs shown'\n"
               "set xlabel 'run'\nset ylabel '%% of median'\nset grid\n"
               "set key outside right top vertical Left reverse noautotitle font 'sans,9'\n"
               "set format y '%%g'\nset xtics nomirror\nset ytics nomirror\n",
            group, machine);
    size_t k = 0;
    double *vals = NULL;
    for (size_t i = 0; i < nv && st == DB_OK; i++) {
        char g[DASH_GROUP];
        const nt_row *last = &h->rows[v[i].last];
        group_of(last->metric, g, sizeof g);
        if (strcmp(g, group))
            continue;
        size_t *idx = NULL, n = 0;
        if ((st = nt_series(h, machine, last->metric, &idx, &n)) != DB_OK)
            break;
        size_t lo = 0;
        while (lo < n && h->rows[idx[lo]].run < run0)
            lo++;
        db_free(vals);
        vals = db_malloc_array(n - lo + 1, sizeof *vals);
        if (!vals) {
            db_free(idx);
            st = db_error(DB_ERR_NOMEM, "%s: out of memory", gp);
            break;
        }
        size_t m = 0;
        for (size_t j = lo; j < n; j++)
            vals[m++] = h->rows[idx[j]].value;
        double med = 0;
        if (m) {
            for (size_t a = 1; a < m; a++) /* insertion sort: m is small (plot_runs) */
                for (size_t b = a; b > 0 && vals[b - 1] > vals[b]; b--) {
                    double t = vals[b];
                    vals[b] = vals[b - 1];
                    vals[b - 1] = t;
                }
            med = m % 2 ? vals[m / 2] : 0.5 * (vals[m / 2 - 1] + vals[m / 2]);
        }
        fprintf(f, "$m%zu << EOD\n", k);
        for (size_t j = lo; j < n; j++) {
            const nt_row *r = &h->rows[idx[j]];
            fprintf(f, "%lld %.17g\n", (long long)r->run,
                    med != 0 ? 100.0 * r->value / med : 100.0 + r->value);
        }
        fprintf(f, "EOD\n");
        k++;
        db_free(idx);
    }
    db_free(vals);
    if (st != DB_OK) {
        fs_out_abort(&out);
        return st;
    }
    fprintf(f, "plot ");
    size_t j = 0;
    for (size_t i = 0; i < nv; i++) {
        char g[DASH_GROUP];
        const nt_row *last = &h->rows[v[i].last];
        group_of(last->metric, g, sizeof g);
        if (strcmp(g, group))
            continue;
        fprintf(f, "%s$m%zu using 1:2 with linespoints pt 7 ps 0.5 lw 1.5 title '", j ? ", \\\n     " : "", j);
        for (const char *p = last->metric + strlen(group) + 1; *p; p++)
            if (*p != '\'' && *p != '\\')
                fputc(*p, f);
        fprintf(f, "'");
        j++;
    }
    fprintf(f, "\n");
    if ((st = fs_out_commit(&out)) != DB_OK)
        return st;
    st = run_gnuplot(o->gnuplot ? o->gnuplot : "gnuplot", gp, err);
    unlink(err);
    if (st == DB_OK && !svg_complete(svgtmp))
        st = db_error(DB_ERR_IO, "%s: gnuplot wrote an incomplete plot (disk full?)", svg);
    if (st != DB_OK) {
        fs_abort(svgtmp);
        return st;
    }
    return fs_commit(svgtmp, svg);
}

/* ---- the page ------------------------------------------------------------------------------ */

/* Inline SVG sparkline of a series' last points; the latest point is coloured by state. */
static db_status sparkline(FILE *f, const nt_history *h, const char *machine,
                           const nt_verdict *v, int64_t run0)
{
    size_t *idx = NULL, n = 0;
    db_status st = nt_series(h, machine, h->rows[v->last].metric, &idx, &n);
    if (st != DB_OK)
        return st;
    size_t lo = 0;
    while (lo < n && h->rows[idx[lo]].run < run0)
        lo++;
    double mn = INFINITY, mx = -INFINITY;
    for (size_t j = lo; j < n; j++) {
        double x = h->rows[idx[j]].value;
        mn = x < mn ? x : mn;
        mx = x > mx ? x : mx;
    }
    const double W = 120, H = 24, pad = 3;
    size_t m = n - lo;
    fprintf(f, "<svg class=\"spark\" width=\"%g\" height=\"%g\" viewBox=\"0 0 %g %g\" "
               "role=\"img\" aria-label=\"trend\"><polyline fill=\"none\" stroke=\"#456\" "
               "stroke-width=\"1.2\" points=\"",
            W, H, W, H);
    double lx = 0, ly = 0;
    for (size_t j = lo; j < n; j++) {
        double x = m > 1 ? pad + (W - 2 * pad) * (double)(j - lo) / (double)(m - 1) : W / 2;
        double y = mx > mn ? H - pad - (H - 2 * pad) * (h->rows[idx[j]].value - mn) / (mx - mn)
                           : H / 2;
        fprintf(f, "%s%.1f,%.1f", j > lo ? " " : "", x, y);
        lx = x;
        ly = y;
    }
    fprintf(f, "\"/><circle class=\"s-%d\" cx=\"%.1f\" cy=\"%.1f\" r=\"2.5\"/></svg>", (int)v->state,
            lx, ly);
    db_free(idx);
    return DB_OK;
}

static void fmt_value(char *buf, size_t n, double x)
{
    snprintf(buf, n, "%.4g", x);
}

static const char *state_class(nt_state s)
{
    static const char *c[NT_STATE_COUNT] = {"regression", "suspect", "improved", "ok",
                                            "short",      "new",     "stale"};
    return (unsigned)s < NT_STATE_COUNT ? c[s] : "ok";
}

static const char css[] =
    "body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222;background:#fff}"
    "h1{font-size:1.4em;margin:0 0 .3em}h2{font-size:1.15em;margin:1.4em 0 .4em}"
    "table{border-collapse:collapse;font-size:13px}th,td{padding:3px 8px;border-bottom:1px solid #ddd;"
    "text-align:left;white-space:nowrap}td.num{text-align:right;font-variant-numeric:tabular-nums}"
    "th{background:#f0f2f4}.st{font-weight:600;border-radius:3px;padding:1px 6px}"
    ".st.regression{background:#c62828;color:#fff}.st.suspect{background:#f9a825}"
    ".st.improved{background:#2e7d32;color:#fff}.st.ok{background:#e0e0e0}"
    ".st.short,.st.new,.st.stale{background:#eceff1;color:#555}"
    "circle.s-0{fill:#c62828}circle.s-1{fill:#f9a825}circle.s-2{fill:#2e7d32}circle{fill:#456}"
    "#regressions{border:2px solid #c62828;padding:.5em 1em;background:#fff5f5}"
    "#regressions.none{border-color:#2e7d32;background:#f4fbf4}"
    "figure.plot{margin:1em 0}figure.plot img{max-width:100%;height:auto;border:1px solid #ddd}"
    "code{font-size:12px}.muted{color:#666}";

/* Plots loaded: the browser test reads these attributes from the DOM dump. */
static const char js[] =
    "window.addEventListener('load',function(){var ok=0,bad=0;"
    "document.querySelectorAll('figure.plot img').forEach(function(i){"
    "if(i.complete&&i.naturalWidth>0){ok++;i.setAttribute('data-loaded','yes');}"
    "else{bad++;i.setAttribute('data-loaded','no');}});"
    "document.body.setAttribute('data-plots-loaded',ok);"
    "document.body.setAttribute('data-plots-failed',bad);});";

static void regression_line(FILE *f, const nt_history *h, const nt_verdict *v)
{
    const nt_row *r = &h->rows[v->last];
    fputs("<li><b>", f);
    html_esc(f, r->metric);
    fprintf(f, "</b> %s: %+.1f %% vs the median ", nt_state_str(v->state), 100 * v->change);
    char a[64], b[64];
    fmt_value(a, sizeof a, v->baseline);
    fmt_value(b, sizeof b, r->value);
    fprintf(f, "%s → %s ", a, b);
    html_esc(f, r->unit);
    fprintf(f, " (%s), since commit <code>", dir_word(r->direction));
    html_esc(f, h->rows[v->since].commit);
    fprintf(f, "</code> (run %lld, ", (long long)h->rows[v->since].run);
    html_esc(f, h->rows[v->since].date);
    fputs(")", f);
    if (v->good != SIZE_MAX) {
        fputs("; last good <code>", f);
        html_esc(f, h->rows[v->good].commit);
        fputs("</code>", f);
    }
    fputs("</li>\n", f);
}

static db_status write_page(const nt_history *h, const nt_verdict *v, size_t nv,
                            const nt_rule *rule, const char *dir, const char *machine,
                            int64_t run0, char (*groups)[DASH_GROUP], size_t ng,
                            const nt_dash_opts *o)
{
    char path[DASH_PATH];
    snprintf(path, sizeof path, "%s/index.html", dir);
    fs_out out;
    db_status st = fs_out_open(&out, path);
    if (st != DB_OK)
        return st;
    FILE *f = out.fp;
    const nt_row *lr = NULL;
    for (size_t i = h->n; i-- > 0 && !lr;)
        if (!strcmp(h->rows[i].machine, machine))
            lr = &h->rows[i];
    size_t nreg = 0, nsus = 0;
    for (size_t i = 0; i < nv; i++) {
        nreg += v[i].state == NT_REGRESSION;
        nsus += v[i].state == NT_SUSPECT;
    }
    fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
          "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>"
          "deltabench nightly: ", f);
    html_esc(f, machine);
    fprintf(f, "</title>\n<style>%s</style>\n</head>\n<body data-regressions=\"%zu\">\n", css, nreg);
    fputs("<h1>deltabench nightly — ", f);
    html_esc(f, machine);
    fputs("</h1>\n<p class=\"muted\">Latest run ", f);
    fprintf(f, "%lld on ", (long long)lr->run);
    html_esc(f, lr->date);
    fputs(", commit <code>", f);
    html_esc(f, lr->commit);
    fprintf(f, "</code>; %zu metrics. History: <a href=\"", nv);
    char rel[DASH_PATH];
    if (o->history_path) {
        rel_path(dir, o->history_path, rel, sizeof rel);
        url_esc(f, rel);
        fputs("\">", f);
        html_esc(f, o->history_path);
    } else {
        fputs("#\">(in memory)", f);
    }
    fprintf(f, "</a>. Rule: the latest point against the median of the previous %d runs of "
               "this machine; perf metrics flag when worse by more than %g %% <i>and</i> %g × "
               "1.4826 MAD, confirmed after %d consecutive flagged runs (at least %d runs of "
               "history); tight metrics flag beyond %g %%, exact ones on any change; both confirm "
               "at once (docs/nightly.md).</p>\n",
            rule->window, 100 * rule->rel, rule->k, rule->confirm, rule->min_history,
            100 * rule->tight);

    fprintf(f, "<section id=\"regressions\" class=\"%s\">\n", nreg ? "some" : "none");
    if (nreg) {
        fprintf(f, "<h2>%zu confirmed regression%s</h2>\n<ul>\n", nreg, nreg == 1 ? "" : "s");
        for (size_t i = 0; i < nv; i++)
            if (v[i].state == NT_REGRESSION)
                regression_line(f, h, &v[i]);
        fputs("</ul>\n", f);
    } else {
        fputs("<p>No confirmed regressions.</p>\n", f);
    }
    if (nsus) {
        fprintf(f, "<p>%zu suspect%s (flagged once, confirmation pending):</p>\n<ul>\n", nsus,
                nsus == 1 ? "" : "s");
        for (size_t i = 0; i < nv; i++)
            if (v[i].state == NT_SUSPECT)
                regression_line(f, h, &v[i]);
        fputs("</ul>\n", f);
    }
    fputs("</section>\n", f);

    fputs("<h2>Metrics</h2>\n<table id=\"metrics\">\n<thead><tr><th>status</th><th>metric</th>"
          "<th>last</th><th>unit</th><th>baseline</th><th>change</th><th>threshold</th>"
          "<th>better</th><th>trend</th><th>runs</th><th>commit</th><th>since</th>"
          "<th>source</th></tr></thead>\n<tbody>\n",
          f);
    for (size_t i = 0; i < nv && st == DB_OK; i++) {
        const nt_row *r = &h->rows[v[i].last];
        char a[64], b[64];
        fprintf(f, "<tr class=\"%s\"><td><span class=\"st %s\">%s</span></td><td>",
                state_class(v[i].state), state_class(v[i].state), nt_state_str(v[i].state));
        html_esc(f, r->metric);
        fmt_value(a, sizeof a, r->value);
        fprintf(f, "</td><td class=\"num\">%s", a);
        if (r->repeats > 1)
            fprintf(f, " <span class=\"muted\">±%.1f%% (n=%lld)</span>", 50 * r->spread,
                    (long long)r->repeats);
        fputs("</td><td>", f);
        html_esc(f, r->unit);
        if (v[i].nbase) {
            fmt_value(b, sizeof b, v[i].baseline);
            fprintf(f, "</td><td class=\"num\">%s <span class=\"muted\">(%zu)</span></td>", b,
                    v[i].nbase);
        } else {
            fputs("</td><td class=\"num\">–</td>", f);
        }
        if (isfinite(v[i].change))
            fprintf(f, "<td class=\"num\">%+.2f %%</td>", 100 * v[i].change);
        else
            fputs("<td class=\"num\">–</td>", f);
        if (!strcmp(r->kind, "exact"))
            fputs("<td>exact</td>", f);
        else
            fprintf(f, "<td>%s %g %%</td>", r->kind, 100 * v[i].threshold);
        fprintf(f, "<td>%s</td><td>", r->direction);
        if ((st = sparkline(f, h, machine, &v[i], run0)) != DB_OK)
            break;
        fprintf(f, "</td><td class=\"num\">%zu</td><td><code>", v[i].npoints);
        html_esc(f, r->commit);
        fputs("</code></td><td>", f);
        if (v[i].since != SIZE_MAX) {
            fputs("<code>", f);
            html_esc(f, h->rows[v[i].since].commit);
            fputs("</code>", f);
        }
        fputs("</td><td>", f);
        if (r->source[0]) {
            rel_path(dir, r->source, rel, sizeof rel);
            const char *base = strrchr(r->source, '/');
            fputs("<a class=\"src\" href=\"", f);
            url_esc(f, rel);
            fputs("\">", f);
            html_esc(f, base ? base + 1 : r->source);
            fputs("</a>", f);
        }
        fputs("</td></tr>\n", f);
    }
    if (st != DB_OK) {
        fs_out_abort(&out);
        return st;
    }
    fputs("</tbody>\n</table>\n<h2>Trends</h2>\n", f);
    for (size_t g = 0; g < ng; g++) {
        fprintf(f, "<figure class=\"plot\" id=\"plot-%s\"><img src=\"plots/%s.svg\" width=\"960\" "
                   "height=\"420\" alt=\"trend of the %s metrics\"><figcaption>%s: each metric "
                   "relative to its median over the last %d runs (<a href=\"plots/%s.gp\">gnuplot "
                   "script</a>)</figcaption></figure>\n",
                groups[g], groups[g], groups[g], groups[g], o->plot_runs > 0 ? o->plot_runs : 60,
                groups[g]);
    }
    fprintf(f, "<script>%s</script>\n</body>\n</html>\n", js);
    return fs_out_commit(&out);
}

db_status nt_dashboard_write(const nt_history *h, const nt_verdict *v, size_t nv,
                             const nt_rule *rule, const char *dir, const nt_dash_opts *opts)
{
    if (!nv)
        return db_error(DB_ERR_ARG, "%s: no metrics to show", dir);
    nt_dash_opts o = *opts;
    if (o.plot_runs <= 0)
        o.plot_runs = 60;
    const char *machine = h->rows[v[0].last].machine;
    char plots[DASH_PATH];
    if (snprintf(plots, sizeof plots, "%s/plots", dir) >= (int)sizeof plots - 64)
        return db_error(DB_ERR_ARG, "%s: path too long", dir);
    db_status st = mkdirs(plots);
    if (st != DB_OK)
        return st;
    char(*groups)[DASH_GROUP] = db_malloc_array(nv, sizeof *groups);
    if (!groups)
        return db_error(DB_ERR_NOMEM, "%s: out of memory", dir);
    size_t ng = 0;
    for (size_t i = 0; i < nv; i++) {
        char g[DASH_GROUP];
        group_of(h->rows[v[i].last].metric, g, sizeof g);
        bool seen = false;
        for (size_t j = 0; j < ng && !seen; j++)
            seen = !strcmp(groups[j], g);
        if (!seen)
            memcpy(groups[ng++], g, sizeof g);
    }
    /* plots in name order */
    for (size_t a = 1; a < ng; a++)
        for (size_t b = a; b > 0 && strcmp(groups[b - 1], groups[b]) > 0; b--) {
            char t[DASH_GROUP];
            memcpy(t, groups[b], sizeof t);
            memcpy(groups[b], groups[b - 1], sizeof t);
            memcpy(groups[b - 1], t, sizeof t);
        }
    int64_t run0 = first_drawn_run(h, machine, o.plot_runs);
    for (size_t g = 0; g < ng && st == DB_OK; g++)
        st = plot_group(h, v, nv, groups[g], machine, run0, plots, &o);
    if (st == DB_OK)
        st = write_page(h, v, nv, rule, dir, machine, run0, groups, ng, &o);
    db_free(groups);
    return st;
}
