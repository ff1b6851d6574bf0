/*
 * colosim - replay a COLO checkpoint trace recorded in the lab under each
 * of the controller's policies (libcommon/colo/vcha/coloctl.h), with the
 * controller's own code, and print the downtime each would have had.
 *
 *   colosim [options] TRACE...
 *     --policy NAME      colo, periodic, threshold, hybrid or all (all)
 *     --seed N           the random draws' seed (1): same seed, same output
 *     --runs N           the mean of N replays, seeds SEED, SEED + 1, ... (5)
 *     --stock            periodic mode as stock QEMU has it: the replicas
 *                        still compare, and a difference still checkpoints
 *                        at once (default: the seed's passive mode, which
 *                        checkpoints only on the period)
 *     --set NAME=VALUE   a controller setting (period_ms, b_bar, k, ...)
 *     --kv               key=value lines instead of a table
 *
 * The model drawn from a trace (tests/colo/record-trace writes them):
 *   - when the replicas' outputs would first differ: a checkpoint that
 *     came sooner than the recorded x-checkpoint-delay after the one
 *     before it began (QEMU's timer counts from a checkpoint's start) was
 *     asked for by a difference; one at the delay says only that none
 *     came before.  From
 *     these, the rate of differences a second of the guest's run, per
 *     second of the trace (a Poisson process whose rate changes with the
 *     workload's phases), drawn from with a seeded generator;
 *   - a checkpoint's pause: a + b * (the run before it), fitted by least
 *     squares to every checkpoint of the traces given (a pause copies the
 *     memory the guest dirtied while it ran), never extrapolated past the
 *     longest run seen; the mean pause where the runs are too alike to
 *     tell a slope (their spread under a tenth of their mean) or the line
 *     would need a negative part;
 *   - a change of mode costs one checkpoint at once (setting
 *     x-checkpoint-delay in COLO state forces one: measured on QEMU 11.1).
 * The first trace is replayed; the others only add to the pause fit.
 * "recorded" is the first trace's own downtime, and "colo@rec" replays it
 * under static COLO at its recorded delay: the two differ by what the
 * model misses.
 */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vcha/coloctl.h>

#define BUCKET_MS 1000.0
#define MAX_BUCKETS 100000

struct trace {
    double delay;  /* the recorded x-checkpoint-delay */
    double end;    /* its length */
    double *stop, *pause;
    size_t n;
    char workload[64];
};

struct model {
    double rate[MAX_BUCKETS]; /* differences per ms of run */
    size_t buckets;
    double a, b, run_cap;     /* the pause fit */
    unsigned demand, timer;
};

/* ------------------------------------------------------------ the trace */

static int
trace_add(struct trace *t, double stop, double pause)
{
    double *s = realloc(t->stop, (t->n + 1) * sizeof(*s));

    if (s == NULL) {
        return -ENOMEM;
    }
    t->stop = s;
    double *p = realloc(t->pause, (t->n + 1) * sizeof(*p));

    if (p == NULL) {
        return -ENOMEM;
    }
    t->pause = p;
    t->stop[t->n] = stop;
    t->pause[t->n] = pause;
    t->n++;
    return 0;
}

static int
trace_read(const char *path, struct trace *t)
{
    FILE *f = fopen(path, "r");
    char line[512];
    int rc = 0;

    memset(t, 0, sizeof(*t));
    if (f == NULL) {
        fprintf(stderr, "colosim: %s: %s\n", path, strerror(errno));
        return -errno;
    }
    while (rc == 0 && fgets(line, sizeof(line), f) != NULL) {
        double stop, pause;
        const char *m;

        if (line[0] == '#') {
            if ((m = strstr(line, "x-checkpoint-delay:")) != NULL) {
                t->delay = atof(m + strlen("x-checkpoint-delay:"));
            } else if ((m = strstr(line, "end_ms:")) != NULL) {
                t->end = atof(m + strlen("end_ms:"));
            } else if ((m = strstr(line, "workload:")) != NULL) {
                sscanf(m + strlen("workload:"), " %63s", t->workload);
            }
        } else if (sscanf(line, "%lf %lf", &stop, &pause) == 2) {
            if (pause < 0 || (t->n > 0 && stop < t->stop[t->n - 1] +
                                                     t->pause[t->n - 1])) {
                rc = -EINVAL;
            } else {
                rc = trace_add(t, stop, pause);
            }
        } else if (strspn(line, " \t\n") != strlen(line)) {
            rc = -EINVAL;
        }
    }
    fclose(f);
    /* every checkpoint ends within the recording */
    if (rc == 0 && (t->delay <= 0 || t->end <= 0 || t->n == 0 ||
                    t->end / BUCKET_MS >= MAX_BUCKETS ||
                    t->stop[t->n - 1] + t->pause[t->n - 1] > t->end)) {
        rc = -EINVAL;
    }
    if (rc != 0) {
        fprintf(stderr, "colosim: %s: not a checkpoint trace (%s)\n", path,
                strerror(-rc));
        free(t->stop);
        free(t->pause);
        memset(t, 0, sizeof(*t));
    }
    return rc;
}

static void
traces_free(struct trace *t, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        free(t[k].stop);
        free(t[k].pause);
    }
}

/* --------------------------------------------------------------- the model */

/* Add the run [from, to) to the buckets' run time. */
static void
add_run(double *run, double from, double to)
{
    while (from < to) {
        size_t i = (size_t) (from / BUCKET_MS);
        double edge = (double) (i + 1) * BUCKET_MS;
        double upto = to < edge ? to : edge;

        if (i >= MAX_BUCKETS) {
            return;
        }
        run[i] += upto - from;
        from = upto;
    }
}

static int
model_rates(const struct trace *t, struct model *m)
{
    double *run = calloc(MAX_BUCKETS, sizeof(*run));
    double *events = calloc(MAX_BUCKETS, sizeof(*events));
    double resume = 0;

    if (run == NULL || events == NULL) {
        free(run);
        free(events);
        return -ENOMEM;
    }
    for (size_t i = 0; i < t->n; i++) {
        /* QEMU's timer counts from the last checkpoint's start; the
         * first one's is unknown (time 0 is no checkpoint), so it says
         * nothing of a difference */
        bool asked = i > 0 && t->stop[i] - t->stop[i - 1] < 0.95 * t->delay;

        add_run(run, resume, t->stop[i]);
        if (asked) {
            events[(size_t) (t->stop[i] / BUCKET_MS)] += 1;
            m->demand++;
        } else {
            m->timer++;
        }
        resume = t->stop[i] + t->pause[i];
    }
    add_run(run, resume, t->end);
    m->buckets = (size_t) ceil(t->end / BUCKET_MS);
    for (size_t i = 0; i < m->buckets; i++) {
        /* a bucket the guest spent paused keeps the rate before it */
        m->rate[i] = run[i] > 0 ? events[i] / run[i]
                                : (i > 0 ? m->rate[i - 1] : 0);
    }
    free(run);
    free(events);
    return 0;
}

static void
model_pause(const struct trace *t, size_t nt, struct model *m)
{
    double sx = 0, sy = 0, sxx = 0, sxy = 0, n = 0;

    m->run_cap = 0;
    for (size_t k = 0; k < nt; k++) {
        double resume = 0;

        for (size_t i = 0; i < t[k].n; i++) {
            double x = t[k].stop[i] - resume, y = t[k].pause[i];

            sx += x;
            sy += y;
            sxx += x * x;
            sxy += x * y;
            n += 1;
            m->run_cap = x > m->run_cap ? x : m->run_cap;
            resume = t[k].stop[i] + y;
        }
    }
    double den = n * sxx - sx * sx, mean = sx / n;

    m->b = den > 0 ? (n * sxy - sx * sy) / den : 0;
    m->a = (sy - m->b * sx) / n;
    /* runs all of about one length (a trace of the timer alone) tell no
     * slope, and a line that needs a negative part is no pause: then the
     * mean pause, whatever the run */
    if (den <= 0 || den / (n * n) < 0.01 * mean * mean || m->b < 0 ||
        m->a < 0) {
        m->b = 0;
        m->a = sy / n;
    }
}

static double
pause_for(const struct model *m, double run)
{
    return m->a + m->b * (run < m->run_cap ? run : m->run_cap);
}

/* ------------------------------------------------------------- the replay */

static uint64_t
next_random(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* When the outputs first differ after a run that began at @p from: the
 * first event of the Poisson process of the buckets' rates. */
static double
next_difference(const struct model *m, double from, uint64_t *seed)
{
    double u = ((double) (next_random(seed) >> 11) + 0.5) / 9007199254740992.0;
    double need = -log(u), t = from;

    for (;;) {
        size_t i = (size_t) (t / BUCKET_MS);
        double rate = m->rate[i < m->buckets ? i : m->buckets - 1];
        double edge = (double) (i + 1) * BUCKET_MS;

        if (rate > 0 && need <= rate * (edge - t)) {
            return t + need / rate;
        }
        if (i >= m->buckets) {
            return rate > 0 ? t + need / rate : INFINITY;
        }
        need -= rate * (edge - t);
        t = edge;
    }
}

struct result {
    double downtime_pct, cps, colo_pct;
    double checkpoints, switches; /* the means of several replays */
};

static int
replay_once(const struct model *m, double end,
            const struct vcha_coloctl_params *p, bool stock, uint64_t seed,
            struct result *r)
{
    struct vcha_coloctl *c = vcha_coloctl_new(p, 0);
    double resume = 0, paused = 0, in_colo = 0, next_tick = BUCKET_MS;
    double last_stop = 0;
    bool forced = false;

    if (c == NULL) {
        return -EINVAL;
    }
    memset(r, 0, sizeof(*r));
    while (resume < end) {
        enum vcha_colo_mode mode = vcha_coloctl_mode(c);
        /* the timer counts from the last checkpoint's start, as QEMU's */
        double at = last_stop + (double) vcha_coloctl_delay_ms(c);

        at = at > resume ? at : resume;

        if (forced) {
            at = resume;
        } else if (mode == VCHA_COLO_MODE_COLO || stock) {
            double diff = next_difference(m, resume, &seed);

            at = diff < at ? diff : at;
        }
        for (; next_tick <= at && next_tick < end; next_tick += BUCKET_MS) {
            /* a tick due in a pause comes when the guest runs again, as
             * the job's would (it learns of the checkpoint at its end) */
            double tick = next_tick > resume ? next_tick : resume;

            if (vcha_coloctl_tick(c, (long long) tick) < 0) {
                vcha_coloctl_free(c);
                return -EINVAL;
            }
        }
        double stop = at < end ? at : end;

        if (mode == VCHA_COLO_MODE_COLO) {
            in_colo += stop - resume;
        }
        if (at >= end) {
            break;
        }
        double pause = pause_for(m, at - resume);

        last_stop = at;
        resume = at + pause;
        paused += (resume < end ? resume : end) - at;
        r->checkpoints++;
        int next = vcha_coloctl_checkpoint(c, (long long) at,
                                           (long long) resume);

        if (next < 0) {
            vcha_coloctl_free(c);
            return -EINVAL;
        }
        forced = next != (int) mode;
    }
    struct vcha_coloctl_figures f;

    vcha_coloctl_figures(c, (long long) end, &f);
    r->switches = (double) f.switches;
    r->downtime_pct = 100.0 * paused / end;
    r->cps = (double) r->checkpoints * 1000.0 / end;
    r->colo_pct = 100.0 * in_colo / (end - paused);
    vcha_coloctl_free(c);
    return 0;
}

/* The mean of @p runs replays, with seeds @p seed, @p seed + 1, ... */
static int
replay(const struct model *m, double end, const struct vcha_coloctl_params *p,
       bool stock, uint64_t seed, unsigned runs, struct result *r)
{
    struct result one;

    memset(r, 0, sizeof(*r));
    for (unsigned i = 0; i < runs; i++) {
        int rc = replay_once(m, end, p, stock, seed + i, &one);

        if (rc != 0) {
            return rc;
        }
        r->downtime_pct += one.downtime_pct / runs;
        r->cps += one.cps / runs;
        r->colo_pct += one.colo_pct / runs;
        r->checkpoints += one.checkpoints / runs;
        r->switches += one.switches / runs;
    }
    return 0;
}

/* ------------------------------------------------------------ the command */

struct setting {
    const char *name;
    size_t off;
    char type; /* 'L' long long, 'l' long, 'd' double */
};

#define SET(f, t) {#f, offsetof(struct vcha_coloctl_params, f), t}
static const struct setting settings[] = {
    SET(period_ms, 'L'),   SET(colo_delay_ms, 'L'), SET(window_ms, 'L'),
    SET(min_interval_ms, 'L'), SET(stay_checkpoints, 'l'), SET(b_bar, 'l'),
    SET(judge_after, 'l'),
    SET(sigma0, 'd'),      SET(d, 'd'),             SET(sigma_min, 'd'),
    SET(sigma_up, 'd'),    SET(sigma_max, 'd'),     SET(k, 'd'),
    SET(ti_s, 'd'),        SET(setpoint, 'd'),      SET(rho_bar0, 'd'),
    SET(rho_bar_min, 'd'), SET(rho_bar_max, 'd'),
};

/* Apply "NAME=VALUE" to @p p. */
static int
set_param(struct vcha_coloctl_params *p, const char *arg)
{
    const char *eq = strchr(arg, '=');
    char *end;

    for (size_t i = 0; eq != NULL && i < sizeof(settings) / sizeof(*settings);
         i++) {
        const struct setting *s = &settings[i];

        if (strlen(s->name) != (size_t) (eq - arg) ||
            strncmp(s->name, arg, (size_t) (eq - arg)) != 0) {
            continue;
        }
        double v = strtod(eq + 1, &end);

        if (*end != '\0' || end == eq + 1) {
            break;
        }
        char *field = (char *) p + s->off;

        if (s->type == 'd') {
            *(double *) field = v;
        } else if (s->type == 'l') {
            *(long *) field = (long) v;
        } else {
            *(long long *) field = (long long) v;
        }
        return 0;
    }
    fprintf(stderr, "colosim: --set %s: no such setting or not a number\n",
            arg);
    return -EINVAL;
}

static void
print_result(const char *name, const struct result *r, bool kv)
{
    if (kv) {
        printf("policy=%s downtime_pct=%.3f cps=%.3f checkpoints=%.1f "
               "switches=%.1f colo_pct=%.1f\n",
               name, r->downtime_pct, r->cps, r->checkpoints, r->switches,
               r->colo_pct);
    } else {
        printf("  %-10s %9.2f %7.2f %9.1f %6.1f\n", name, r->downtime_pct,
               r->cps, r->switches, r->colo_pct);
    }
}

static void
print_recorded(const struct trace *t, const struct model *m, bool kv)
{
    double paused = 0;

    for (size_t i = 0; i < t->n; i++) {
        paused += t->pause[i];
    }
    struct result rec = {
        .downtime_pct = 100.0 * paused / t->end,
        .cps = (double) t->n * 1000.0 / t->end,
        .checkpoints = (double) t->n,
        .colo_pct = 100,
    };

    if (!kv) {
        printf("trace %s: %.1f s, %zu checkpoints at x-checkpoint-delay "
               "%.0f ms (%u asked for by a difference, %u by the timer)\n",
               t->workload, t->end / 1000.0, t->n, t->delay, m->demand,
               m->timer);
        printf("pause model: %.2f ms + %.5f x the run before it "
               "(up to %.0f ms)\n",
               m->a, m->b, m->run_cap);
        printf("  %-10s %9s %7s %9s %6s\n", "policy", "downtime%", "cps",
               "switches", "colo%");
    } else {
        printf("trace=%s pause_a=%.3f pause_b=%.6f demand=%u timer=%u\n",
               t->workload, m->a, m->b, m->demand, m->timer);
    }
    print_result("recorded", &rec, kv);
}

int
main(int argc, char **argv)
{
    struct vcha_coloctl_params p;
    int policy = -1, rc = 0;
    uint64_t seed = 1;
    unsigned runs = 5;
    bool stock = false, kv = false;
    struct trace traces[8];
    size_t nt = 0;
    static struct model m;
    struct result r, best = {0};
    const char *best_name = NULL;

    vcha_coloctl_params_default(&p, VCHA_COLO_POLICY_COLO);
    for (int i = 1; i < argc && rc == 0; i++) {
        if (strcmp(argv[i], "--policy") == 0 && i + 1 < argc) {
            i++;
            policy = strcmp(argv[i], "all") == 0
                         ? -1
                         : vcha_colo_policy_parse(argv[i]);
            rc = policy == -EINVAL ? -EINVAL : 0;
        } else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc) {
            seed = strtoull(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc) {
            runs = (unsigned) strtoul(argv[++i], NULL, 10);
            rc = runs >= 1 && runs <= 1000 ? 0 : -EINVAL;
        } else if (strcmp(argv[i], "--stock") == 0) {
            stock = true;
        } else if (strcmp(argv[i], "--kv") == 0) {
            kv = true;
        } else if (strcmp(argv[i], "--set") == 0 && i + 1 < argc) {
            rc = set_param(&p, argv[++i]);
        } else if (argv[i][0] != '-' && nt < sizeof(traces) / sizeof(*traces)) {
            rc = trace_read(argv[i], &traces[nt]);
            nt += rc == 0;
        } else {
            rc = -EINVAL;
        }
    }
    if (rc != 0 || nt == 0) {
        traces_free(traces, nt);
        fprintf(stderr, "usage: colosim [--policy NAME|all] [--seed N] "
                        "[--runs N] [--stock] [--set NAME=VALUE]... [--kv] TRACE...\n");
        return 2;
    }
    for (int k = VCHA_COLO_POLICY_COLO; k <= VCHA_COLO_POLICY_HYBRID; k++) {
        p.policy = (enum vcha_colo_policy) k;
        const char *bad = vcha_coloctl_params_check(&p);

        if (bad != NULL) {
            fprintf(stderr, "colosim: setting %s is out of range\n", bad);
            traces_free(traces, nt);
            return 2;
        }
    }
    if (model_rates(&traces[0], &m) != 0) {
        traces_free(traces, nt);
        return 1;
    }
    model_pause(traces, nt, &m);
    print_recorded(&traces[0], &m, kv);

    struct vcha_coloctl_params rec = p;

    rec.policy = VCHA_COLO_POLICY_COLO;
    rec.colo_delay_ms = (long long) traces[0].delay;
    if (replay(&m, traces[0].end, &rec, stock, seed, runs, &r) != 0) {
        goto replay_failed;
    }
    print_result("colo@rec", &r, kv);
    for (int k = VCHA_COLO_POLICY_COLO; k <= VCHA_COLO_POLICY_HYBRID; k++) {
        if (policy >= 0 && k != policy) {
            continue;
        }
        p.policy = (enum vcha_colo_policy) k;
        if (replay(&m, traces[0].end, &p, stock, seed, runs, &r) != 0) {
            goto replay_failed;
        }
        print_result(vcha_colo_policy_name(p.policy), &r, kv);
        if (k <= VCHA_COLO_POLICY_PERIODIC &&
            (best_name == NULL || r.downtime_pct < best.downtime_pct)) {
            best = r;
            best_name = vcha_colo_policy_name(p.policy);
        }
        if (k == VCHA_COLO_POLICY_HYBRID && best_name != NULL) {
            double gain = 100.0 * (best.downtime_pct - r.downtime_pct) /
                          best.downtime_pct;

            printf(kv ? "best_static=%s best_downtime_pct=%.3f "
                        "hybrid_gain_pct=%.1f\n"
                      : "best static: %s at %.2f%%; the hybrid is %.1f%% "
                        "below it\n",
                   best_name, best.downtime_pct, gain);
        }
    }
    traces_free(traces, nt);
    return 0;

replay_failed:
    /* the controller refused a time the replay fed it: a defect here */
    fprintf(stderr, "colosim: the replay of %s failed\n", traces[0].workload);
    traces_free(traces, nt);
    return 1;
}
