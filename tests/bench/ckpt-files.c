/*
 * The file side of a checkpoint, without CRIU: what a container's root
 * filesystem of many files costs while the container is frozen, and at the
 * commit.  For each of RUNS checkpoints of the tree SRC into the store
 * STORE (after a change of CHANGED files in SRC), one way:
 *
 *   full     the whole tree copied while frozen (rsync --link-dest and the
 *            check of what it linked), as a checkpoint without a watch does
 *   tracked  the tree copied before the freeze under a watch; while frozen
 *            only what changed since is copied again
 *
 * and prints, per checkpoint, "frozen_ms precopy_ms commit_ms sweep_ms
 * full verify_ms" (full: 1 when the whole tree was copied while frozen;
 * verify: the base chosen, every byte of it read, before the copy).
 *
 *   ckpt-files full|tracked SRC STORE RUNS CHANGED
 */
#define _GNU_SOURCE /* asprintf */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <vcha/clock.h>
#include <vcha/file.h>
#include <vcha/genstore.h>
#include <vcha/rootfs.h>

/* Rewrite @p n files of @p src/bench-changes, as a workload would. */
static void
change(const char *src, int n, int run)
{
    char path[4096], text[64];

    snprintf(path, sizeof(path), "%s/bench-changes", src);
    mkdir(path, 0755);
    for (int i = 0; i < n; i++) {
        snprintf(path, sizeof(path), "%s/bench-changes/%d", src, i);
        snprintf(text, sizeof(text), "run %d file %d\n", run, i);
        if (vcha_file_write_atomic(path, text, strlen(text), 0644) < 0) {
            fprintf(stderr, "cannot write %s\n", path);
            exit(1);
        }
    }
}

int
main(int argc, char **argv)
{
    const char *src, *store_dir;
    bool tracked;
    int runs, changed;
    long long since = 0;
    char why[1024] = "";

    if (argc != 6) {
        fprintf(stderr, "usage: ckpt-files full|tracked SRC STORE RUNS "
                        "CHANGED\n");
        return 2;
    }
    tracked = strcmp(argv[1], "tracked") == 0;
    src = argv[2];
    store_dir = argv[3];
    runs = atoi(argv[4]);
    changed = atoi(argv[5]);
    for (int r = 0; r < runs; r++) {
        struct vcha_genstore *store = NULL;
        struct vcha_rootfs_watch *w = NULL;
        struct vcha_rootfs_stats st;
        struct vcha_rootfs_catchup_stats cs;
        char *stage = NULL, *base = NULL, *base_rootfs = NULL, *dst = NULL;
        char *aside = NULL;
        bool full;
        long long tv, t0, t1, t2, t3, t4, frozen_at;
        int rc;

        change(src, changed, r);
        if (vcha_genstore_open(store_dir, &store) < 0) {
            fprintf(stderr, "cannot open %s\n", store_dir);
            return 1;
        }
        tv = vcha_now_ms();
        if (vcha_genstore_base(store, &base, NULL, NULL) == 0 && since > 0 &&
            asprintf(&base_rootfs, "%s/rootfs", base) < 0) {
            return 1;
        }
        tv = vcha_now_ms() - tv;
        if (vcha_genstore_stage(store, &stage) < 0 ||
            asprintf(&dst, "%s/rootfs", stage) < 0) {
            return 1;
        }
        t0 = vcha_now_ms();
        if (tracked) {
            rc = vcha_rootfs_watch_open(src, &w, why, sizeof(why));
            if (rc == 0) {
                rc = vcha_rootfs_precopy(w, base_rootfs, since, dst,
                                         vcha_now_ms() + 600000, &st, why,
                                         sizeof(why));
            }
            change(src, changed, r); /* while it ran: caught up frozen */
        }
        t1 = vcha_now_ms();
        frozen_at = vcha_realtime_ms();
        rc = tracked ? vcha_rootfs_catch_up(w, dst, NULL, "/tmp",
                                            vcha_now_ms() + 600000, &cs, why,
                                            sizeof(why))
                     : 1;
        full = rc != 0;
        if (rc == -EOVERFLOW || rc == -EMLINK || rc == -ELOOP) {
            /* as a checkpoint does: the copy aside, the whole tree */
            fprintf(stderr, "checkpoint %d: %s: the whole tree\n", r, why);
            if (asprintf(&aside, "%s.precopy", dst) < 0 ||
                rename(dst, aside) < 0) {
                return 1;
            }
            rc = 1;
        }
        if (rc == 1) {
            rc = vcha_rootfs_stage(src, base_rootfs, since, dst,
                                   vcha_now_ms() + 600000, &st, why,
                                   sizeof(why));
        }
        t2 = vcha_now_ms();
        if (aside != NULL) {
            vcha_file_remove_tree(aside);
            free(aside);
            aside = NULL;
        }
        if (rc == 0) {
            rc = vcha_genstore_commit(store, NULL, 2, NULL);
        }
        t3 = vcha_now_ms();
        vcha_genstore_sweep(store);
        t4 = vcha_now_ms();
        if (rc < 0) {
            fprintf(stderr, "checkpoint %d: %s: %s\n", r, strerror(-rc), why);
            return 1;
        }
        since = frozen_at;
        printf("%lld %lld %lld %lld %d %lld\n", t2 - t1, t1 - t0, t3 - t2,
               t4 - t3, full, tv);
        vcha_rootfs_watch_close(w);
        vcha_genstore_free(store);
        free(stage);
        free(dst);
        free(base);
        free(base_rootfs);
    }
    return 0;
}
