/*
 * ocf:vcha:criuct - an LXC container checkpointed continuously with CRIU
 * into a store of generations, restored from the newest good one when it
 * starts, here or on another node.
 *
 * The periodic checkpoints are taken by vchad, the node daemon: start
 * registers a checkpoint job, stop removes it, monitor asks for its health.
 * The agent itself restores (start, migrate_from) and takes the last
 * checkpoint of a stop or a migration, with the container left frozen so
 * that nothing it does after that checkpoint is lost.
 */
#include <config.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <vcha/agent.h>
#include <vcha/ckptjob.h>
#include <vcha/clock.h>
#include <vcha/ct.h>
#include <vcha/exec.h>
#include <vcha/genstore.h>
#include <vcha/job.h>
#include <vcha/log.h>
#include <vcha/vchad.h>

#define AGENT "criuct"
#define MAX_MONITOR_ARGS VCHA_COMMAND_MAX_WORDS

enum {
    P_CONTAINER,
    P_LXCPATH,
    P_CHECKPOINT_DIR,
    P_INTERVAL,
    P_KEEP,
    P_COMPRESS,
    P_ON_STOP,
    P_RESTORE_POLICY,
    P_MAX_AGE,
    P_MONITOR_CMD,
    N_PARAMS
};

static const char *const policy_options[] = {"latest", "cold", NULL};

static const struct vcha_param_def params[N_PARAMS] = {
    [P_CONTAINER] =
        {
            .name = "container",
            .type = VCHA_PT_STRING,
            .required = true,
            .unique = true,
            .check = vcha_ct_name_check,
            .shortdesc = "LXC container name",
            .longdesc = "The name of the LXC container.  Its configuration, "
                        "LXCPATH/NAME/config, must exist and be the same on "
                        "every node that may run it; its root filesystem "
                        "is local to each node and is replaced by the one "
                        "of the generation it is restored from.",
        },
    [P_LXCPATH] =
        {
            .name = "lxcpath",
            .type = VCHA_PT_STRING,
            .dflt = "/var/lib/lxc",
            .check = vcha_check_abspath,
            .shortdesc = "LXC path",
            .longdesc = "The directory holding the container's directory "
                        "(lxc-start -P, LXC's lxcpath).",
        },
    [P_CHECKPOINT_DIR] =
        {
            .name = "checkpoint_dir",
            .type = VCHA_PT_STRING,
            .required = true,
            .unique = true,
            .check = vcha_check_abspath,
            .shortdesc = "Checkpoint store",
            .longdesc = "The directory holding the container's checkpoint "
                        "generations, on storage every node that may run "
                        "the container can reach (NFS, a cluster file "
                        "system).  One directory per container.  Each "
                        "generation holds the CRIU images and the root "
                        "filesystem taken at the same instant, and a "
                        "manifest with checksums; it appears only once "
                        "complete, and the previous one is deleted only "
                        "after it.",
        },
    [P_INTERVAL] =
        {
            .name = "checkpoint_interval",
            .type = VCHA_PT_DURATION,
            .dflt = "30s",
            .min = 1000,
            .max = 86400000,
            .reloadable = true,
            .shortdesc = "Time between checkpoints",
            .longdesc = "How often vchad checkpoints the running container "
                        "(at least 1s).  A failure loses at most the work "
                        "of one interval plus one checkpoint; each "
                        "checkpoint freezes the container for the time of "
                        "its dump and of copying what changed (see vchactl "
                        "status).  A checkpoint's whole time (the copy "
                        "before the freeze, the commit, the removal of the "
                        "retired generation) grows with the number of "
                        "files of the root filesystem: in the cluster lab "
                        "about 1.3 s at 1,000 files, 12 s at 20,000 and "
                        "75 s at 100,000.  Keep the interval above it: one "
                        "that overruns is followed by the next at once.",
        },
    [P_KEEP] =
        {
            .name = "keep",
            .type = VCHA_PT_INTEGER,
            .dflt = "3",
            .min = VCHA_CKPT_KEEP_MIN,
            .max = VCHA_CKPT_KEEP_MAX,
            .reloadable = true,
            .shortdesc = "Generations kept",
            .longdesc = "How many committed generations the store keeps (at "
                        "least 2: a corrupt newest one then still leaves "
                        "one to restore).",
        },
    [P_COMPRESS] =
        {
            .name = "compress",
            .type = VCHA_PT_SELECT,
            .dflt = "auto",
            .options = vcha_ckpt_compress_options,
            .reloadable = true,
            .shortdesc = "Compression of the CRIU images",
            .longdesc = "zstd: compress the images before they reach the "
                        "store; none: never; auto: compress only while "
                        "that makes checkpoints faster on this store (both "
                        "are timed now and then, and the faster one is "
                        "used).  Compression happens after the container "
                        "is thawed, so it never lengthens a freeze.  The "
                        "last checkpoint of a stop or a migration chooses "
                        "the same way: what a migration waits for is its "
                        "images reaching the store.",
        },
    [P_ON_STOP] =
        {
            .name = "checkpoint_on_stop",
            .type = VCHA_PT_BOOLEAN,
            .dflt = "true",
            .shortdesc = "Checkpoint at stop",
            .longdesc = "Take a last checkpoint when the resource stops, "
                        "with the container frozen until it is killed, so "
                        "that a clean stop or move loses nothing.  When "
                        "that checkpoint fails the stop still succeeds and "
                        "the previous generation stays the newest.",
        },
    [P_RESTORE_POLICY] =
        {
            .name = "restore_policy",
            .type = VCHA_PT_SELECT,
            .dflt = "latest",
            .options = policy_options,
            .shortdesc = "What start does without a good generation",
            .longdesc = "Start always restores the newest generation that "
                        "verifies.  When none does: latest boots the "
                        "container from its own filesystem only if the "
                        "store has never held a generation, and otherwise "
                        "fails (its state would be lost without a word); "
                        "cold boots it in every case.",
        },
    [P_MAX_AGE] =
        {
            .name = "max_checkpoint_age",
            .type = VCHA_PT_DURATION,
            .dflt = "0",
            .max = 86400000 * 7LL,
            .shortdesc = "Oldest acceptable checkpoint",
            .longdesc = "Monitor fails when the newest checkpoint is older "
                        "than this (0: three checkpoint intervals, and at "
                        "least one minute more than one interval).",
        },
    [P_MONITOR_CMD] =
        {
            .name = "monitor_cmd",
            .type = VCHA_PT_STRING,
            .check = vcha_check_command,
            .shortdesc = "Health check run inside the container",
            .longdesc = "At OCF_CHECK_LEVEL 20, this program is run inside "
                        "the container (as lxc-attach --clear-env does) and "
                        "must exit 0.  Words "
                        "are separated by spaces; no shell is involved.",
        },
};

/* ------------------------------------------------------------ helpers */

static enum vcha_result
ct_load(struct vcha_agent *a, struct vcha_ct **ct)
{
    char why[512] = "";
    int rc = vcha_ct_open(vcha_agent_str(a, P_CONTAINER),
                          vcha_agent_str(a, P_LXCPATH), ct, why, sizeof(why));

    if (rc == -ENOENT) {
        return vcha_agent_fail(
            a, VCHA_ERR_INSTALLED, "container %s has no configuration in %s",
            vcha_agent_str(a, P_CONTAINER), vcha_agent_str(a, P_LXCPATH));
    }
    if (rc < 0) {
        return vcha_agent_fail(
            a, rc == -EINVAL ? VCHA_ERR_CONFIGURED : VCHA_ERR_INSTALLED,
            "container %s: %s", vcha_agent_str(a, P_CONTAINER),
            why[0] ? why : strerror(-rc));
    }
    return VCHA_OK;
}

/*
 * The container is booted and restored with the settings CRIU needs in
 * memory (see ct.h); what those cannot override is refused, naming the
 * setting and its fix.
 */
static enum vcha_result
criu_check(struct vcha_agent *a, const struct vcha_ct *ct)
{
    char why[512] = "";

    if (vcha_ct_criu_check(ct, why, sizeof(why)) < 0) {
        return vcha_agent_fail(a, VCHA_ERR_CONFIGURED, "%s", why);
    }
    return VCHA_OK;
}

static long long
max_age_ms(const struct vcha_agent *a)
{
    long long interval = vcha_agent_num(a, P_INTERVAL);
    long long age = vcha_agent_num(a, P_MAX_AGE);

    if (age > 0) {
        return age;
    }
    age = 3 * interval;
    return age > interval + 60000 ? age : interval + 60000;
}

/*
 * The checkpoint job of this resource, from its own parameters, in a new
 * list *job; its first checkpoint is due at once, or after @p first_ms (a
 * container just restored is in its newest generation already: no need
 * to freeze it again while it comes back).
 */
static int
job_params(struct vcha_agent *a, long long first_ms, struct vcha_kv **job,
           struct vcha_job_timing *t)
{
    static const struct {
        enum vcha_ckpt_job_param key;
        size_t param;
    } map[] = {
        {VCHA_CKPT_CONTAINER, P_CONTAINER},  {VCHA_CKPT_LXCPATH, P_LXCPATH},
        {VCHA_CKPT_STORE, P_CHECKPOINT_DIR}, {VCHA_CKPT_KEEP, P_KEEP},
        {VCHA_CKPT_COMPRESS, P_COMPRESS},
    };
    int rc = 0;

    *t = (struct vcha_job_timing){
        .interval_ms = vcha_agent_num(a, P_INTERVAL),
        .timeout_ms = vcha_ckpt_job_timeout_ms(vcha_agent_num(a, P_INTERVAL)),
        .first_run_ms = first_ms,
    };
    *job = vcha_kv_new();
    for (size_t i = 0;
         *job != NULL && rc == 0 && i < sizeof(map) / sizeof(map[0]); i++) {
        rc = vcha_kv_set(*job, vcha_ckpt_job.params[map[i].key].name,
                         vcha_agent_str(a, map[i].param));
    }
    if (*job == NULL || rc < 0) {
        vcha_kv_free(*job);
        *job = NULL;
        return vcha_agent_fail(a, VCHA_ERR_GENERIC, "out of memory");
    }
    return VCHA_OK;
}

/* Register (or update) the checkpoint job with vchad, starting vchad. */
static enum vcha_result
job_add(struct vcha_agent *a, long long first_ms)
{
    struct vcha_job_timing t;
    struct vcha_kv *job = NULL;
    char why[512] = "";
    int rc;

    if (job_params(a, first_ms, &job, &t) != VCHA_OK) {
        return VCHA_ERR_GENERIC;
    }
    rc = vcha_job_add(vcha_vchad_socket(), &vcha_ckpt_job, a->instance, job, &t,
                      a->deadline_ms, why, sizeof(why));
    vcha_kv_free(job);
    if (rc < 0) {
        return vcha_agent_fail(a, VCHA_ERR_GENERIC,
                               "cannot register the checkpoint job: %s", why);
    }
    return VCHA_OK;
}

/*
 * Remove the job, waiting for a checkpoint under way (half the time left
 * at most, so that the stop keeps time to kill the container).  Never
 * fails; false when vchad did not confirm that nothing of the job runs
 * any more (a checkpoint blocked on a hung store): then no other may be
 * taken beside it.
 */
static bool
job_remove(struct vcha_agent *a)
{
    long long now = vcha_now_ms();
    int rc = vcha_job_remove(vcha_vchad_socket(), a->instance,
                             now + (a->deadline_ms - now) / 2);

    if (rc < 0) {
        vcha_warn("could not remove the checkpoint job from vchad: %s",
                  strerror(-rc));
    }
    return rc == 0;
}

/*
 * Whether container @p ct runs here: 1, 0, or -1 with the reason set (the
 * action fails: Pacemaker must not act on a guess).
 */
static int
running_here(struct vcha_agent *a, struct vcha_ct *ct)
{
    int running = vcha_ct_running(ct, a->deadline_ms, NULL);

    if (running < 0) {
        vcha_agent_fail(a, VCHA_ERR_GENERIC, "cannot tell whether %s runs: %s",
                        ct->name, strerror(-running));
        return -1;
    }
    return running > 0;
}

static void
log_figures(const char *what, const struct vcha_kv *fig)
{
    char line[1024];

    vcha_notice("%s:%s", what, vcha_kv_join(fig, line, sizeof(line)));
}

/* -------------------------------------------------------- start/restore */

/*
 * Restore @p ct from generation @p g: 0, -EBADMSG when the generation
 * turns out corrupt (nothing of it is used: the caller tries an older
 * one), or another negative errno; @p why says why.
 */
static int
restore(struct vcha_agent *a, struct vcha_ct *ct, const struct vcha_gen_info *g,
        char *why, size_t whylen)
{
    struct vcha_kv *fig = vcha_kv_new();
    const char *frozen = vcha_gen_info_figure(g, "frozen_at");
    int rc;

    if (g->config_digest != NULL && strcmp(g->config_digest, ct->digest) != 0) {
        vcha_warn("%s was taken with another configuration of %s than "
                  "this node's %s",
                  g->path, ct->name, ct->config);
    }
    vcha_notice("restoring %s from %s", ct->name, g->path);
    rc = vcha_ct_restore(ct, g->path, g, a->deadline_ms, fig, why, whylen);
    if (rc == 0 && frozen != NULL) {
        /* how old the state is: the downtime of a migration */
        vcha_kv_setf(fig, "state_age_ms", "%lld",
                     vcha_realtime_ms() - atoll(frozen));
    }
    if (rc == 0) {
        log_figures(g->path, fig);
    }
    vcha_kv_free(fig);
    return rc;
}

/* Whether the store has ever held a generation (even a bad one). */
static bool
store_has_generations(const char *store)
{
    struct vcha_gen_info *gens = NULL;
    size_t n = 0;

    if (vcha_genstore_list(store, &gens, &n) < 0) {
        return true; /* cannot tell: do not boot over lost state */
    }
    vcha_gen_list_free(gens, n);
    return n > 0;
}

/*
 * Restore from the newest generation that proves good while it is read:
 * each one found corrupt (its MANIFEST, its tree or a checksum) is
 * skipped with a warning, and the next older one is tried.  Returns 0,
 * -ENOENT when none is good, or the failure of a good one's restore.
 */
static int
restore_newest(struct vcha_agent *a, struct vcha_ct *ct, const char *store,
               char *why, size_t whylen)
{
    struct vcha_gen_info *gens = NULL;
    size_t n = 0;
    int rc = vcha_genstore_list(store, &gens, &n);

    if (rc < 0) {
        snprintf(why, whylen, "cannot read %s: %s", store, strerror(-rc));
        return rc;
    }
    rc = -ENOENT;
    for (size_t i = 0; rc == -ENOENT && i < n; i++) {
        rc = restore(a, ct, &gens[i], why, whylen);
        if (rc == -EBADMSG) {
            const char *name = strrchr(gens[i].path, '/');

            vcha_warn("checkpoint store %s: skipping %s: %s", store,
                      name != NULL ? name + 1 : gens[i].path, why);
            rc = -ENOENT;
        } else if (rc < 0) {
            size_t len = strlen(why);

            snprintf(why + len, whylen - len, " (restoring from %s)",
                     gens[i].path);
        }
    }
    vcha_gen_list_free(gens, n);
    return rc;
}

static enum vcha_result
boot_or_restore(struct vcha_agent *a, struct vcha_ct *ct, bool *restored)
{
    const char *store = vcha_agent_str(a, P_CHECKPOINT_DIR);
    char why[1024] = "";
    int rc = restore_newest(a, ct, store, why, sizeof(why));

    *restored = rc == 0;
    if (rc == 0) {
        return VCHA_OK;
    }
    if (rc != -ENOENT) {
        return vcha_agent_fail(a, VCHA_ERR_GENERIC, "restore of %s failed: %s",
                               ct->name, why);
    }
    if (strcmp(vcha_agent_str(a, P_RESTORE_POLICY), "cold") != 0 &&
        store_has_generations(store)) {
        return vcha_agent_fail(a, VCHA_ERR_GENERIC,
                               "no generation in %s verifies (see the log); "
                               "not booting %s without its state "
                               "(restore_policy=cold would)",
                               store, ct->name);
    }
    if (vcha_ct_boot(ct, a->deadline_ms, why, sizeof(why)) < 0) {
        return vcha_agent_fail(a, VCHA_ERR_GENERIC, "cannot boot %s: %s",
                               ct->name, why);
    }
    vcha_notice("%s booted from its own filesystem (no generation in %s)",
                ct->name, store);
    return VCHA_OK;
}

static enum vcha_result
store_check(struct vcha_agent *a)
{
    const char *store = vcha_agent_str(a, P_CHECKPOINT_DIR);
    struct stat st;

    if (stat(store, &st) < 0) {
        return vcha_agent_fail(a, VCHA_ERR_INSTALLED,
                               "checkpoint_dir %s: %s (is the store mounted "
                               "here?)",
                               store, strerror(errno));
    }
    if (!S_ISDIR(st.st_mode)) {
        return vcha_agent_fail(a, VCHA_ERR_CONFIGURED,
                               "checkpoint_dir %s is not a directory", store);
    }
    if (access(store, W_OK | X_OK) < 0) {
        return vcha_agent_fail(a, VCHA_ERR_PERM,
                               "checkpoint_dir %s is not writable: %s", store,
                               strerror(errno));
    }
    return VCHA_OK;
}

static enum vcha_result
criuct_start(struct vcha_agent *a)
{
    struct vcha_ct *ct = NULL;
    enum vcha_result r = ct_load(a, &ct);
    bool restored = false;
    int running;

    if (r != VCHA_OK) {
        return r;
    }
    /* a store it cannot write to would lose every checkpoint */
    r = criu_check(a, ct);
    if (r == VCHA_OK) {
        r = store_check(a);
    }
    running = r == VCHA_OK ? running_here(a, ct) : 0;
    if (running < 0) {
        r = VCHA_ERR_GENERIC;
    } else if (r == VCHA_OK && running == 0) {
        r = boot_or_restore(a, ct, &restored);
    }
    if (r == VCHA_OK) {
        r = job_add(a, restored ? vcha_agent_num(a, P_INTERVAL) : 0);
    }
    vcha_ct_free(ct);
    return r;
}

/* ------------------------------------------------------------ stop */

/*
 * The last checkpoint, taken with the container left frozen, then the
 * kill.  @p required: a failed checkpoint fails the action (migration);
 * otherwise it is logged and the previous generation stays the newest.
 */
static enum vcha_result
checkpoint_and_kill(struct vcha_agent *a, struct vcha_ct *ct, bool checkpoint,
                    bool required)
{
    struct vcha_ct_ckpt o = {
        .store = vcha_agent_str(a, P_CHECKPOINT_DIR),
        .keep = (unsigned) vcha_agent_num(a, P_KEEP),
        .compress = vcha_ckpt_compress(vcha_agent_str(a, P_COMPRESS),
                                       vcha_agent_str(a, P_CHECKPOINT_DIR)),
        .final = true,
        .deadline = a->deadline_ms,
    };
    struct vcha_kv *fig = vcha_kv_new();
    char why[1024] = "";
    enum vcha_result r = VCHA_OK;

    if (checkpoint && vcha_ct_checkpoint(ct, &o, fig, why, sizeof(why)) < 0) {
        if (required) {
            /* it runs on here, thawed: checkpointed as before */
            job_add(a, 0);
            r = vcha_agent_fail(a, VCHA_ERR_GENERIC,
                                "last checkpoint of %s failed: %s; it runs "
                                "on here",
                                ct->name, why);
            goto done;
        }
        vcha_warn("last checkpoint of %s failed (%s); it will start from the "
                  "previous generation",
                  ct->name, why);
    } else if (checkpoint) {
        log_figures("last checkpoint", fig);
    }
    if (vcha_ct_kill(ct, a->deadline_ms, why, sizeof(why)) < 0) {
        r = vcha_agent_fail(a, VCHA_ERR_GENERIC, "cannot stop %s: %s", ct->name,
                            why);
    }
done:
    vcha_kv_free(fig);
    return r;
}

static enum vcha_result
stop_common(struct vcha_agent *a, bool migrating)
{
    struct vcha_ct *ct = NULL;
    enum vcha_result r;
    bool removed = job_remove(a);
    int running;

    r = ct_load(a, &ct);
    if (r != VCHA_OK) {
        /* Without its configuration LXC cannot run it either. */
        vcha_warn("%s; nothing to stop", a->reason);
        a->reason[0] = '\0';
        return migrating ? VCHA_ERR_GENERIC : VCHA_OK;
    }
    running = running_here(a, ct);
    if (running < 0) {
        r = VCHA_ERR_GENERIC;
    } else if (running > 0 && !removed && migrating) {
        r = vcha_agent_fail(a, VCHA_ERR_GENERIC,
                            "a checkpoint of %s is still running; no last "
                            "checkpoint beside it",
                            ct->name);
    } else if (running > 0) {
        if (!removed) {
            vcha_warn("a checkpoint of %s is still running: stopping it "
                      "without a last checkpoint",
                      ct->name);
        }
        r = checkpoint_and_kill(
            a, ct, removed && (migrating || vcha_agent_num(a, P_ON_STOP)),
            migrating);
    } else if (migrating) {
        r = vcha_agent_fail(a, VCHA_ERR_GENERIC, "%s does not run here",
                            ct->name);
    }
    vcha_ct_free(ct);
    return r;
}

static enum vcha_result
criuct_stop(struct vcha_agent *a)
{
    return stop_common(a, false);
}

static enum vcha_result
criuct_migrate_to(struct vcha_agent *a)
{
    enum vcha_result r = stop_common(a, true);

    if (r == VCHA_OK) {
        vcha_notice("%s checkpointed and stopped for migration",
                    vcha_agent_str(a, P_CONTAINER));
    }
    return r;
}

static enum vcha_result
criuct_migrate_from(struct vcha_agent *a)
{
    return criuct_start(a);
}

/* ------------------------------------------------------------ monitor */

/*
 * When the newest checkpoint was taken: vchad's last success, or, when it
 * has none (restarted, the job registered again, or not answering), the
 * newest generation committed to the store; 0 when neither says.
 */
static long long
newest_checkpoint_ms(struct vcha_agent *a, const struct vcha_kv *health)
{
    struct vcha_gen_info *gens = NULL;
    long long last = 0;
    size_t n = 0;

    if (vcha_kv_get_ll(health, "last_success", &last) == 0 && last > 0) {
        return last;
    }
    if (vcha_genstore_list(vcha_agent_str(a, P_CHECKPOINT_DIR), &gens, &n) ==
            0 &&
        n > 0) {
        last = gens[0].created_ms;
    }
    vcha_gen_list_free(gens, n);
    return last;
}

/*
 * The checkpoint job's health.  A job that vchad lost (vchad died or was
 * restarted) is registered again, starting vchad: the container runs on
 * untouched, and only a job that cannot be re-established fails.  The age
 * of the newest checkpoint is judged whatever vchad says, from the store
 * when vchad cannot tell: a vchad that keeps dying, or hangs, never hides
 * checkpoints that stopped.
 */
static enum vcha_result
job_check(struct vcha_agent *a)
{
    struct vcha_kv *job = NULL, *health = NULL;
    struct vcha_job_timing t;
    long long newest, age, now;
    enum vcha_result r = job_params(a, 0, &job, &t);
    char why[512] = "";
    bool readded = false;
    int rc;

    if (r != VCHA_OK) {
        return r;
    }
    /* two thirds of the time: a hung vchad leaves time for the store */
    now = vcha_now_ms();
    rc = vcha_job_keep(vcha_vchad_socket(), &vcha_ckpt_job, a->instance, job,
                       &t, now + (a->deadline_ms - now) * 2 / 3, &health,
                       &readded, why, sizeof(why));
    if (rc == -ETIME) {
        vcha_warn("vchad does not answer: %s; judging by the store", why);
    } else if (rc < 0) {
        r = vcha_agent_fail(a, VCHA_ERR_GENERIC,
                            "the checkpoint job of %s cannot be "
                            "re-established: %s",
                            a->instance, why);
        goto done;
    } else if (readded) {
        vcha_warn("vchad had lost the checkpoint job of %s: registered it "
                  "again",
                  a->instance);
    }
    newest = newest_checkpoint_ms(a, health);
    if (newest == 0) {
        goto done; /* none yet: the first checkpoint is under way */
    }
    age = vcha_realtime_ms() - newest;
    if (age > max_age_ms(a)) {
        const char *e = vcha_kv_get(health, "last_error");

        r = vcha_agent_fail(
            a, VCHA_ERR_GENERIC,
            "newest checkpoint is %lld s old (limit %lld s)%s%s", age / 1000,
            max_age_ms(a) / 1000, e != NULL && *e ? "; last error: " : "",
            e != NULL ? e : "");
    }
done:
    vcha_kv_free(health);
    vcha_kv_free(job);
    return r;
}

/* Split monitor_cmd at spaces into argv (no shell, no quoting). */
static enum vcha_result
inside_check(struct vcha_agent *a, struct vcha_ct *ct)
{
    char *copy = strdup(vcha_agent_str(a, P_MONITOR_CMD));
    const char *argv[MAX_MONITOR_ARGS + 1] = {NULL};
    char why[512] = "", *save = NULL;
    size_t n = 0;
    int rc;

    if (copy == NULL) {
        return vcha_agent_fail(a, VCHA_ERR_GENERIC, "out of memory");
    }
    for (char *w = strtok_r(copy, " ", &save);
         w != NULL && n < MAX_MONITOR_ARGS; w = strtok_r(NULL, " ", &save)) {
        argv[n++] = w;
    }
    rc = vcha_ct_attach(ct, argv, a->deadline_ms, why, sizeof(why));
    free(copy);
    if (rc != 0) {
        return vcha_agent_fail(a, VCHA_ERR_GENERIC,
                               "monitor_cmd failed inside %s: %s", ct->name,
                               rc < 0 ? why : "non-zero exit");
    }
    return VCHA_OK;
}

static enum vcha_result
criuct_monitor(struct vcha_agent *a)
{
    struct vcha_ct *ct = NULL;
    enum vcha_result r;
    int running;

    if (ct_load(a, &ct) != VCHA_OK) {
        a->reason[0] = '\0';
        return VCHA_NOT_RUNNING; /* no configuration: LXC cannot run it */
    }
    running = running_here(a, ct);
    if (running < 0) {
        r = VCHA_ERR_GENERIC;
    } else if (running == 0) {
        r = VCHA_NOT_RUNNING;
    } else if (a->probe || a->clone.role == VCHA_ROLE_STOPPED) {
        /* the job is the business of the monitor where it should run */
        r = VCHA_OK;
    } else {
        r = job_check(a);
        if (r == VCHA_OK && a->check_level >= 20 &&
            vcha_agent_str(a, P_MONITOR_CMD) != NULL) {
            r = inside_check(a, ct);
        }
    }
    vcha_ct_free(ct);
    return r;
}

/* ------------------------------------------------------------ reload */

static enum vcha_result
criuct_reload_agent(struct vcha_agent *a)
{
    struct vcha_ct *ct = NULL;
    enum vcha_result r = ct_load(a, &ct);

    if (r == VCHA_OK && vcha_ct_running(ct, a->deadline_ms, NULL) > 0) {
        r = job_add(a, 0);
    }
    vcha_ct_free(ct);
    return r;
}

/* ------------------------------------------------------------ validate */

static enum vcha_result
criuct_validate(struct vcha_agent *a, int level)
{
    /* LXC itself is liblxc, linked in */
    static const char *const programs[] = {"criu", "rsync", "nsenter", "ip",
                                           NULL};
    struct vcha_ct *ct = NULL;
    enum vcha_result r;

    if (vcha_param_is_set(a->params, P_MAX_AGE) &&
        vcha_agent_num(a, P_MAX_AGE) != 0 &&
        vcha_agent_num(a, P_MAX_AGE) <= vcha_agent_num(a, P_INTERVAL)) {
        return vcha_agent_fail(a, VCHA_ERR_CONFIGURED,
                               "max_checkpoint_age must be longer than "
                               "checkpoint_interval");
    }
    if (level < 10) {
        return VCHA_OK;
    }
    /* the container's configuration first: what to change in it is
     * the same on every node */
    r = ct_load(a, &ct);
    if (r == VCHA_OK) {
        r = criu_check(a, ct);
    }
    vcha_ct_free(ct);
    for (size_t i = 0; r == VCHA_OK && programs[i] != NULL; i++) {
        if (vcha_exec_find(programs[i]) < 0) {
            r = vcha_agent_fail(a, VCHA_ERR_INSTALLED, "%s not found",
                                programs[i]);
        }
    }
    return r != VCHA_OK ? r : store_check(a);
}

static const struct vcha_action_def actions[] = {
    {"start", criuct_start, 120, 0, -1, NULL},
    {"stop", criuct_stop, 120, 0, -1, NULL},
    {"monitor", criuct_monitor, 30, 10, 0, NULL},
    {"migrate_to", criuct_migrate_to, 120, 0, -1, NULL},
    {"migrate_from", criuct_migrate_from, 120, 0, -1, NULL},
    {"reload-agent", criuct_reload_agent, 20, 0, -1, NULL},
    {NULL},
};

static const struct vcha_agent_def agent = {
    .name = AGENT,
    .version = PACKAGE_VERSION,
    .shortdesc = "LXC container checkpointed with CRIU, restored on failover",
    .longdesc =
        "Runs an LXC container that is checkpointed continuously: every "
        "checkpoint_interval the node daemon vchad copies its root "
        "filesystem into a new generation of checkpoint_dir while it runs, "
        "watching the tree for changes meanwhile (fanotify, or inotify "
        "where the file system cannot give fanotify), then freezes it (its "
        "own cgroup, every process of it), dumps its processes with CRIU, "
        "copies again only the paths changed since the copy began and the "
        "files it maps shared and writable (writes through a mapping make "
        "no event), thaws it and commits the generation with one atomic "
        "rename: memory and files of one instant, the container stopped "
        "for what changed, not for how many files it has.  Every change "
        "made before the freeze is seen: the kernel queues its event in "
        "the writer's own system call, and a frozen process is in none.  "
        "When changes were lost (the kernel's queue overflowed), a changed "
        "file has other names, or a changed path runs through a symbolic "
        "link, the whole tree is copied while frozen instead, and the "
        "checkpoint's figures say so (rootfs_copy=full and why).  Files "
        "are hard-linked from the newest generation "
        "that verifies only when neither their content nor their inode "
        "changed since it was taken (rsync's size and mtime alone miss a "
        "rewrite within one tick of the clock), and an old generation is "
        "deleted only once keep newer ones verify.  Start restores the "
        "newest good generation, here or on any node that reaches the "
        "store, with processes, memory and files as they were at that "
        "instant, and reads each byte it needs once: the generation's "
        "MANIFEST (sealed by the SHA-256 of its text) and its tree (types, "
        "modes, sizes) are checked first, then every file is hashed as it "
        "is read, by one thread per CPU: the images while they are "
        "linked or decompressed for CRIU, and each file of the root "
        "filesystem while it is copied into a temporary name beside its "
        "place, renamed into place only when its SHA-256 is the one the "
        "MANIFEST lists.  A file the node holds already is kept when its "
        "own SHA-256 is the listed one (only the node's copy is read), or "
        "without being read at all when the node's lineage proves it: its "
        "root filesystem equalled a generation at a known time (this node "
        "committed or restored it), that generation's MANIFEST lists the "
        "same checksum for the file, and the file's inode has not changed "
        "since (its ctime, which every write, rename, link or chmod sets "
        "and no program can set back, is older).  A restart in place thus "
        "reads little more than the MANIFEST, and a failover what the "
        "node lacks.  A checksum that differs fails the restore before "
        "CRIU runs, with nothing of that file put in place; the "
        "generation is skipped with a log line and the next older one "
        "restored, which also repairs what the failed attempt changed.  "
        "What is restored is always what the MANIFEST lists, byte for "
        "byte, even where the store's copy of a file the node proved has "
        "gone bad since.  Owners, modes, mtimes, hard links, devices and "
        "fifos are kept as rsync -aH --numeric-ids keeps them; extended "
        "attributes are not (the checkpoint does not take them).  "
        "Stop takes a last "
        "checkpoint first (checkpoint_on_stop), and migrate_to/migrate_from "
        "move the container with no state lost (allow-migrate=true); a "
        "migrate_to whose last checkpoint fails leaves the container "
        "running, thawed and checkpointed.  A crash of the container restarts "
        "it in "
        "place from the newest generation; migration-threshold moves it "
        "when that keeps failing.  A monitor that finds vchad gone or "
        "without the job starts vchad and registers the job again, and "
        "the container runs on; it reports a failure when the job cannot "
        "be re-established or the newest checkpoint is older than "
        "max_checkpoint_age.  CRIU dumps into /run/vcha while it has "
        "room there for the images (the shortest freeze), straight into "
        "the store otherwise; a restore reads them through hard links in "
        "checkpoint_dir/.restore-NODE.  The container is booted, "
        "checkpointed and restored through liblxc with what CRIU needs set "
        "in memory, its configuration file untouched: lxc.tty.max = 0, "
        "lxc.pty.max = 0, lxc.console.path = none, and, on a kernel without "
        "AppArmor, no lxc.apparmor.* item; so a container made by "
        "lxc-create -t download runs as it is.  Start and validate-all "
        "refuse (not configured) lxc.start.auto = 1 and a network LXC "
        "cannot checkpoint (lxc.net.N.type other than veth, macvlan, empty "
        "or none).  Its workload must be started by its init (processes "
        "started with lxc-attach are not part of its checkpoint).",
    .params = params,
    .n_params = N_PARAMS,
    .actions = actions,
    .validate = criuct_validate,
};

int
main(int argc, char **argv)
{
    return vcha_agent_main(&agent, argc, argv);
}
