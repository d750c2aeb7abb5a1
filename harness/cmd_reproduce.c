/* cmd_reproduce.c: `deltabench reproduce`: lists the reproduction registry, or runs one entry:
 * its experiment script, its gnuplot figure, and the splice of its section into paper.md. */
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/fsutil.h"
#include "core/version.h"
#include "harness/cli.h"
#include "harness/registry.h"

#define CMD "reproduce"

static void usage(const cli_opt *opts, size_t n)
{
    printf("usage: deltabench reproduce --list | --ids | --needs ID\n"
           "       deltabench reproduce ID [--out DIR] [--paper FILE | --no-paper]\n\n"
           "Runs entry ID of the reproduction registry: its experiment (scripts/reproduce/ID.sh,\n"
           "which writes HDF5 runs, ID.csv, section.md and a verdict under DIR), its gnuplot\n"
           "figure (DIR/ID.png and .svg, copied to docs/figures/ beside the report), and replaces the\n"
           "regenerated part of its paper.md section (between the markers\n"
           "<!-- regenerated:ID:begin --> and <!-- regenerated:ID:end -->). Run from the\n"
           "project root; `make reproduce-ID` also builds what the entry needs first.\n\n");
    cli_help(stdout, opts, n);
}

static int list(void)
{
    printf("%-8s %-18s %s\n", "id", "claims", "title / status of the last run / needs");
    for (size_t i = 0; i < rp_count; i++) {
        const rp_entry *e = &rp_entries[i];
        char path[512], status[1024] = "not run";
        snprintf(path, sizeof path, "results/%s/verdict", e->id);
        char *v = NULL;
        size_t n = 0;
        struct stat sb;
        if (fs_read_all(path, &v, &n) == DB_OK && !stat(path, &sb)) {
            while (n && (v[n - 1] == '\n' || v[n - 1] == ' '))
                v[--n] = 0;
            char day[32];
            strftime(day, sizeof day, "%Y-%m-%d", gmtime(&sb.st_mtime));
            snprintf(status, sizeof status, "ran %s: %.900s", day, v);
        }
        db_free(v);
        printf("%-8s %-18s %s\n", e->id, e->claims, e->title);
        printf("%-27s %s\n", "", status);
        printf("%-27s needs %s; %s\n", "", e->needs, e->budget);
    }
    return DB_EXIT_OK;
}

/* Runs argv[0] (searched in PATH) and waits; DB_OK when it exits 0. */
static db_status spawn(char *const argv[])
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0)
        return db_error(DB_ERR_IO, "%s: cannot fork: %s", argv[0], strerror(errno));
    if (pid == 0) {
        execvp(argv[0], argv);
        fprintf(stderr, "deltabench " CMD ": %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    int st = 0;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            return db_error(DB_ERR_IO, "%s: wait failed: %s", argv[0], strerror(errno));
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
        return DB_OK;
    if (WIFEXITED(st))
        return db_error(DB_ERR_IO, "%s %s failed (exit %d)", argv[0], argv[1] ? argv[1] : "",
                        WEXITSTATUS(st));
    return db_error(DB_ERR_IO, "%s %s was killed (signal %d)", argv[0], argv[1] ? argv[1] : "",
                    WTERMSIG(st));
}

static db_status copy_file(const char *from, const char *to)
{
    char *buf = NULL;
    size_t n = 0;
    db_status s = fs_read_all(from, &buf, &n);
    fs_out o;
    if (!s && !(s = fs_out_open(&o, to))) {
        fwrite(buf, 1, n, o.fp); /* a short write sets the error flag the commit checks */
        s = fs_out_commit(&o);
    }
    db_free(buf);
    return s;
}

static int mkdir_p(const char *dir)
{
    char buf[1200];
    snprintf(buf, sizeof buf, "%s", dir);
    for (char *p = buf + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            if (mkdir(buf, 0777) && errno != EEXIST)
                return -1;
            *p = '/';
        }
    return mkdir(buf, 0777) && errno != EEXIST ? -1 : 0;
}

/* Copies FIG.png and FIG.svg to DIR/ID.png and .svg. */
static db_status copy_figures(const char *fig, const char *dir, const char *id)
{
    char from[1300], to[1300];
    db_status s = DB_OK;
    for (int i = 0; i < 2 && !s; i++) {
        const char *ext = i ? "svg" : "png";
        snprintf(from, sizeof from, "%s.%s", fig, ext);
        snprintf(to, sizeof to, "%s/%s.%s", dir, id, ext);
        s = copy_file(from, to);
    }
    return s;
}

#define REF_RUNS_MAX_BYTES (5L << 20) /* the HDF5 runs are committed when they total less */

/* buf = "a/b"; DB_ERR_ARG when it does not fit. */
static db_status join(char *buf, size_t n, const char *a, const char *b)
{
    int k = snprintf(buf, n, "%s/%s", a, b);
    return k < 0 || (size_t)k >= n ? db_error(DB_ERR_ARG, "%s/%s: path too long", a, b) : DB_OK;
}

static bool is_h5(const char *name)
{
    size_t L = strlen(name);
    return L > 3 && !strcmp(name + L - 3, ".h5");
}

/* Is `name` a sibling table of entry id's figure, "ID-*.csv" (dz3-systems.csv)? */
static bool is_sibling_csv(const char *id, const char *name)
{
    size_t L = strlen(name), n = strlen(id);
    return L > n + 5 && !strncmp(name, id, n) && name[n] == '-' && !strcmp(name + L - 4, ".csv");
}

/* The data behind the section, copied where the repository keeps it: REFDIR/ID.csv and its
 * sibling tables ID-*.csv (what the figure draws beside ID.csv), the
 * verdict, and the HDF5 runs under REFDIR/runs when they total less than REF_RUNS_MAX_BYTES
 * (older copies of runs are removed first, so the directory holds this run's only). *nruns:
 * the runs copied. */
static db_status publish_reference(const rp_entry *e, const char *dir, const char *refdir,
                                   int *nruns)
{
    char name[300], from[4096], to[4096], runs[4096], src_runs[4096];
    *nruns = 0;
    db_status s;
    if ((s = join(runs, sizeof runs, refdir, "runs")) || (s = join(src_runs, sizeof src_runs, dir, "runs")))
        return s;
    if (mkdir_p(runs))
        return db_error(DB_ERR_IO, "%s: cannot create: %s", runs, strerror(errno));
    snprintf(name, sizeof name, "%s.csv", e->id);
    if ((s = join(from, sizeof from, dir, name)) || (s = join(to, sizeof to, refdir, name)) ||
        (s = copy_file(from, to)))
        return s;
    if ((s = join(from, sizeof from, dir, "verdict")) || (s = join(to, sizeof to, refdir, "verdict")))
        return s;
    if (!access(from, R_OK) && (s = copy_file(from, to)))
        return s;
    DIR *d = opendir(dir);
    for (struct dirent *de; d && !s && (de = readdir(d));)
        if (is_sibling_csv(e->id, de->d_name) && !(s = join(from, sizeof from, dir, de->d_name)) &&
            !(s = join(to, sizeof to, refdir, de->d_name)))
            s = copy_file(from, to);
    if (d)
        closedir(d);
    if (s)
        return s;
    d = opendir(runs);
    for (struct dirent *de; d && !s && (de = readdir(d));) /* this run's copies only */
        if (is_h5(de->d_name) && !(s = join(to, sizeof to, runs, de->d_name)))
            unlink(to);
    if (d)
        closedir(d);
    long total = 0;
    d = s ? NULL : opendir(src_runs);
    for (struct dirent *de; d && !s && (de = readdir(d));) {
        struct stat st;
        if (is_h5(de->d_name) && !(s = join(from, sizeof from, src_runs, de->d_name)) &&
            !stat(from, &st))
            total += (long)st.st_size;
    }
    if (d)
        rewinddir(d);
    for (struct dirent *de; d && !s && total < REF_RUNS_MAX_BYTES && (de = readdir(d));)
        if (is_h5(de->d_name) && !(s = join(from, sizeof from, src_runs, de->d_name)) &&
            !(s = join(to, sizeof to, runs, de->d_name)) && !(s = copy_file(from, to)))
            ++*nruns;
    if (d)
        closedir(d);
    return s;
}

/* Replaces the text between entry id's markers in `paper` by header + the section file. */
static db_status splice(const char *paper, const rp_entry *e, const char *section,
                        const char *out_dir, int nruns)
{
    char begin[128], end[128];
    snprintf(begin, sizeof begin, "<!-- regenerated:%s:begin -->", e->id);
    snprintf(end, sizeof end, "<!-- regenerated:%s:end -->", e->id);
    char *doc = NULL, *sec = NULL;
    size_t ndoc = 0, nsec = 0;
    db_status s = fs_read_all(paper, &doc, &ndoc);
    if (!s)
        s = fs_read_all(section, &sec, &nsec);
    if (s)
        goto done;
    char *b = strstr(doc, begin), *x = b ? strstr(b, end) : NULL;
    if (!b || !x) {
        s = db_error(DB_ERR_FORMAT, "%s: no '%s' ... '%s' markers for entry %s", paper, begin, end,
                     e->id);
        goto done;
    }
    b += strlen(begin);
    char day[32];
    time_t now = time(NULL);
    strftime(day, sizeof day, "%Y-%m-%d", gmtime(&now));
    fs_out o;
    if ((s = fs_out_open(&o, paper)))
        goto done;
    fwrite(doc, 1, (size_t)(b - doc), o.fp);
    char nr[64] = "";
    if (nruns)
        snprintf(nr, sizeof nr, " and its %d HDF5 run%s under `runs/`", nruns, nruns > 1 ? "s" : "");
    fprintf(o.fp,
            "\n*Regenerated by `make reproduce-%s` (deltabench %s, commit %s, %s). Data: "
            "[`results/reference/%s/`](results/reference/%s/) in the repository (the figure's "
            "table `%s.csv`, joined by `%s`%s; read runs with `deltabench export`); the whole "
            "run under `%s/`.*\n\n",
            e->id, DB_VERSION, db_git_commit(), day, e->id, e->id, e->id, e->script, nr, out_dir);
    if (e->plot)
        fprintf(o.fp, "![%s](docs/figures/%s.png)\n\n", e->id, e->id);
    fwrite(sec, 1, nsec, o.fp);
    fputs("\n", o.fp);
    fputs(x, o.fp);
    s = fs_out_commit(&o);
done:
    db_free(doc);
    db_free(sec);
    return s;
}

/* Does entry `id` own claim c[0..n) ("DZ-4 (latency, simulated)")? It does when its registry
 * row lists the claim, or the claim's id before " (" as an item without a qualifier ("DZ-4").
 * A verdict line of a claim that has moved to another entry is stale text of an older run. */
static bool owns_claim(const char *id, const char *c, size_t n)
{
    const rp_entry *e = rp_find(id);
    const char *q = memchr(c, '(', n);
    size_t nid = q && q > c + 1 && q[-1] == ' ' ? (size_t)(q - 1 - c) : n;
    for (const char *it = e ? e->claims : ""; *it;) {
        size_t len = strcspn(it, ",");
        if ((len == n && !memcmp(it, c, n)) || (len == nid && !memcmp(it, c, nid)))
            return true;
        it += len;
        it += strspn(it, ", ");
    }
    return false;
}

/* Rebuilds the status table of `paper` (between <!-- regenerated:status:begin --> and its end
 * marker; none: nothing to do) from the report itself: one row per "**Verdict CLAIM**: verdict:"
 * line of every entry's regenerated section, with the entry and the date its section was
 * regenerated. So the table agrees with the sections whichever entries were rerun. A claim's
 * row comes only from the entry that owns it now (owns_claim). */
static db_status splice_status(const char *paper)
{
    static const char B[] = "<!-- regenerated:status:begin -->",
                      E[] = "<!-- regenerated:status:end -->", RB[] = "<!-- regenerated:",
                      VB[] = "**Verdict ", DB[] = "*Regenerated by ";
    char *doc = NULL, *tbl = NULL;
    size_t ndoc = 0, ntbl = 0;
    db_status s = fs_read_all(paper, &doc, &ndoc);
    if (s)
        return s;
    char *b = strstr(doc, B), *x = b ? strstr(b, E) : NULL;
    FILE *m = b && x ? open_memstream(&tbl, &ntbl) : NULL;
    if (!b || !x || !m) {
        db_free(doc);
        if (b && !x)
            return db_error(DB_ERR_FORMAT, "%s: '%s' without '%s'", paper, B, E);
        return b ? db_error(DB_ERR_NOMEM, "%s: status table: out of memory", paper) : DB_OK;
    }
    fputs("\n| claim | verdict | entry | section regenerated |\n|---|---|---|---|\n", m);
    char id[64] = "", day[16] = "";
    for (const char *p = doc; *p;) {
        const char *nl = strchr(p, '\n'), *end = nl ? nl : p + strlen(p);
        if (!strncmp(p, RB, sizeof RB - 1) && p != b) {
            const char *q = p + sizeof RB - 1, *c = memchr(q, ':', (size_t)(end - q));
            if (c && !strncmp(c, ":begin", 6) && c - q < (int)sizeof id)
                snprintf(id, sizeof id, "%.*s", (int)(c - q), q), day[0] = 0;
            else
                id[0] = 0;
        } else if (id[0] && !strncmp(p, DB, sizeof DB - 1)) {
            const char *d = strstr(p, "). Data:");
            if (d && d < end && d - p >= 10)
                snprintf(day, sizeof day, "%.10s", d - 10);
        } else if (id[0] && !strncmp(p, VB, sizeof VB - 1)) {
            const char *l = p + sizeof VB - 1, *le = strstr(l, "**: ");
            if (le && le < end && owns_claim(id, l, (size_t)(le - l))) {
                const char *v = le + 4, *ve = memchr(v, ':', (size_t)(end - v));
                fprintf(m, "| %.*s | %.*s | `make reproduce-%s` | %s |\n", (int)(le - l), l,
                        (int)((ve ? ve : end) - v), v, id, day[0] ? day : "–");
            }
        }
        p = nl ? nl + 1 : end;
    }
    if (fclose(m)) {
        db_free(doc);
        free(tbl);
        return db_error(DB_ERR_NOMEM, "%s: status table: out of memory", paper);
    }
    fs_out o;
    if (!(s = fs_out_open(&o, paper))) {
        fwrite(doc, 1, (size_t)(b - doc) + sizeof B - 1, o.fp);
        fwrite(tbl, 1, ntbl, o.fp);
        fputs("\n", o.fp);
        fputs(x, o.fp);
        s = fs_out_commit(&o);
    }
    db_free(doc);
    free(tbl);
    return s;
}

/* The entry's rule-decided verdict lines, written into DIR/section.md (from the script's
 * DIR/section.tmp.md) in place of its "<!-- verdicts -->" line, and DIR/verdict ("CLAIM: verdict; ..."), from DIR/ID.csv. */
static db_status write_verdicts(const rp_entry *e, const char *dir)
{
    static const char MARK[] = "<!-- verdicts -->\n";
    char csv[1200], sec_path[1200], draft[1200], vpath[1200];
    snprintf(csv, sizeof csv, "%s/%s.csv", dir, e->id);
    snprintf(sec_path, sizeof sec_path, "%s/section.md", dir);
    /* the script's section without its verdicts: never under the final name, so a kill
     * between the script and this function leaves no section.md lacking its verdicts */
    snprintf(draft, sizeof draft, "%s/section.tmp.md", dir);
    snprintf(vpath, sizeof vpath, "%s/verdict", dir);
    vd_table *t = NULL;
    char *sec = NULL, *lines = NULL, *summary = NULL;
    size_t nsec = 0, nlines = 0, nsummary = 0;
    FILE *lm = NULL, *sm = NULL;
    db_status s = vd_table_read(csv, &t);
    if (s == DB_OK)
        s = fs_read_all(access(draft, F_OK) ? sec_path : draft, &sec, &nsec);
    char *mark = s == DB_OK ? strstr(sec, MARK) : NULL;
    if (s == DB_OK && !mark)
        s = db_error(DB_ERR_FORMAT, "%s: no '<!-- verdicts -->' line for the rules' verdicts",
                     sec_path);
    if (s == DB_OK && (!(lm = open_memstream(&lines, &nlines)) ||
                       !(sm = open_memstream(&summary, &nsummary))))
        s = db_error(DB_ERR_NOMEM, "%s: out of memory", sec_path);
    for (size_t i = 0; s == DB_OK && i < e->nrules; i++) {
        const char *claim = e->rules[i].claim;
        bool seen = false; /* each claim once, in the order of its first rule */
        for (size_t j = 0; j < i; j++)
            seen |= !strcmp(e->rules[j].claim, claim);
        char v[96];
        if (!seen && (s = vd_decide(t, e->rules, e->nrules, claim, lm, v, sizeof v)) == DB_OK)
            fprintf(sm, "%s%s: %s", ftell(sm) ? "; " : "", claim, v);
    }
    if (lm && fclose(lm) && s == DB_OK)
        s = db_error(DB_ERR_NOMEM, "%s: out of memory", sec_path);
    if (sm && fclose(sm) && s == DB_OK)
        s = db_error(DB_ERR_NOMEM, "%s: out of memory", sec_path);
    fs_out o;
    if (s == DB_OK && (s = fs_out_open(&o, sec_path)) == DB_OK) {
        fwrite(sec, 1, (size_t)(mark - sec), o.fp);
        fwrite(lines, 1, nlines, o.fp);
        fputs(mark + sizeof MARK - 1, o.fp);
        s = fs_out_commit(&o);
    }
    if (s == DB_OK)
        unlink(draft);
    if (s == DB_OK && (s = fs_out_open(&o, vpath)) == DB_OK) {
        fprintf(o.fp, "%s\n", summary);
        s = fs_out_commit(&o);
    }
    vd_table_free(t);
    db_free(sec);
    free(lines);
    free(summary);
    return s;
}

static int run(const rp_entry *e, const char *out_dir, const char *paper, bool quiet)
{
    char self[4096], dir[1024], csv[1200], fig[1200], arg[2600], path[1300];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0)
        return cli_fail(CMD, db_error(DB_ERR_IO, "/proc/self/exe: cannot find this binary"));
    self[n] = 0;
    if (access(e->script, R_OK))
        return cli_fail(CMD, db_error(DB_ERR_IO, "%s: not found (run from the project root)",
                                      e->script));
    snprintf(dir, sizeof dir, "%s", out_dir);
    setenv("DELTABENCH", self, 1);
    setenv("OUT", dir, 1);
    printf("reproduce %s: running %s (%s)\n", e->id, e->script, e->budget);
    db_status s = spawn((char *[]){"bash", (char *)e->script, NULL});
    if (s) /* the experiment printed its own one-line reason */
        return DB_EXIT_FAIL;
    if (e->nrules && (s = write_verdicts(e, dir)))
        return cli_fail(CMD, s);
    if (e->plot) {
        snprintf(csv, sizeof csv, "%s/%s.csv", dir, e->id);
        snprintf(fig, sizeof fig, "%s/%s", dir, e->id);
        snprintf(arg, sizeof arg, "data='%s'; out='%s'", csv, fig);
        if ((s = spawn((char *[]){"gnuplot", "-e", arg, (char *)e->plot, NULL})))
            return cli_fail(CMD, s);
        /* the report links docs/figures/ID.png next to itself */
        char figdir[1200];
        const char *slash = paper ? strrchr(paper, '/') : NULL;
        snprintf(figdir, sizeof figdir, "%.*sdocs/figures", slash ? (int)(slash - paper + 1) : 0,
                 paper ? paper : "");
        if (paper && (mkdir_p(figdir) || (s = copy_figures(fig, figdir, e->id))))
            return cli_fail(CMD, s ? s : db_error(DB_ERR_IO, "%s: cannot create", figdir));
    }
    snprintf(path, sizeof path, "%s/section.md", dir);
    int nruns = 0;
    if (paper) { /* the data behind the section goes beside the report, under results/reference */
        char refdir[1300];
        const char *slash = strrchr(paper, '/');
        int k = snprintf(refdir, sizeof refdir, "%.*sresults/reference/%s",
                         slash ? (int)(slash - paper + 1) : 0, paper, e->id);
        if (k < 0 || (size_t)k >= sizeof refdir)
            return cli_fail(CMD, db_error(DB_ERR_ARG, "%s: path too long", paper));
        if ((s = publish_reference(e, dir, refdir, &nruns)))
            return cli_fail(CMD, s);
    }
    if (paper && ((s = splice(paper, e, path, dir, nruns)) || (s = splice_status(paper))))
        return cli_fail(CMD, s);
    if (quiet)
        return DB_EXIT_OK;
    printf("reproduce %s: done\n", e->id);
    if (e->plot)
        printf("  figure   %s/%s.png, %s/%s.svg%s\n", dir, e->id, dir, e->id,
               paper ? " (copied to docs/figures/ beside the report)" : "");
    printf("  data     %s/runs/*.h5 (deltabench export FILE TABLE), table %s/%s.csv\n", dir, dir,
           e->id);
    printf("  section  %s (between the regenerated:%s markers); text also in %s\n",
           paper ? paper : "(not updated: --no-paper)", e->id, path);
    snprintf(path, sizeof path, "%s/verdict", dir);
    char *v = NULL;
    size_t nv = 0;
    if (fs_read_all(path, &v, &nv) == DB_OK)
        printf("  verdict  %s", v);
    db_free(v);
    return DB_EXIT_OK;
}

/* The entry ids, one per line (the Makefile's reproduce-all). */
static int ids(void)
{
    for (size_t i = 0; i < rp_count; i++)
        printf("%s\n", rp_entries[i].id);
    return DB_EXIT_OK;
}

int cmd_reproduce(int argc, char **argv)
{
    const char *out = NULL, *paper = "paper.md", *needs = NULL;
    bool do_list = false, no_paper = false, quiet = false, do_ids = false;
    const cli_opt opts[] = {
        CLI_FLAG_OPT("list", 0, &do_list,
                     "the entries, their claims and status (verdict of the last run)"),
        CLI_FLAG_OPT("ids", 0, &do_ids, "the entry ids, one per line"),
        CLI_STR_OPT("needs", &needs, "ID", "the make targets entry ID needs first (e.g. models)",
                    "none"),
        CLI_STR_OPT("out", &out, "DIR", "results directory", "results/ID"),
        CLI_STR_OPT("paper", &paper, "FILE", "report to update", "paper.md"),
        CLI_FLAG_OPT("no-paper", 0, &no_paper, "leave the report alone"),
        CLI_FLAG_OPT("quiet", 'q', &quiet, "no summary of what was written"),
    };
    int argi = 0;
    int rc = cli_parse(CMD, argc, argv, opts, CLI_NOPTS(opts), &argi);
    if (rc == CLI_HELP)
        return usage(opts, CLI_NOPTS(opts)), DB_EXIT_OK;
    if (rc)
        return rc;
    if (do_list + do_ids + (needs != NULL) > 1)
        return cli_usage(CMD, "--list, --ids and --needs exclude each other");
    if (do_list || do_ids || needs) {
        if (argi < argc || out || no_paper)
            return cli_usage(CMD, "--list, --ids and --needs take no other argument");
        if (do_list)
            return list();
        if (do_ids)
            return ids();
        const rp_entry *e = rp_find(needs);
        if (!e)
            return cli_usage(CMD, "--needs: unknown entry '%s' (see --list)", needs);
        printf("%s\n", e->make_needs ? e->make_needs : "");
        return DB_EXIT_OK;
    }
    if (argc - argi != 1)
        return cli_usage(CMD, "expected one entry id (see --list)");
    const rp_entry *e = rp_find(argv[argi]);
    if (!e)
        return cli_usage(CMD, "unknown entry '%s' (see --list)", argv[argi]);
    char def[256];
    snprintf(def, sizeof def, "results/%s", e->id);
    return run(e, out ? out : def, no_paper ? NULL : paper, quiet);
}
