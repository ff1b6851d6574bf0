/*
 * The driver of tests/bench/restore: a generation made from a tree, and
 * the two ways of restoring it, each timed on its own.
 *
 *   restore-run make STORE TREE IMAGE_MB   commit a generation: TREE as
 *                                          its rootfs, IMAGE_MB of random
 *                                          bytes as images/pages-1.img;
 *                                          prints its path
 *   restore-run old GEN DST                verify every checksum, then
 *                                          rsync --checksum (criuct
 *                                          before restore.c)
 *   restore-run new GEN DST [PREV SINCE]   vcha/restore.h: MANIFEST and
 *                                          tree, images hashed, files
 *                                          checked as read; PREV/SINCE the
 *                                          node's lineage; THREADS in
 *                                          the environment: threads
 *
 * Prints "key=value" figures on one line.
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <vcha/clock.h>
#include <vcha/exec.h>
#include <vcha/file.h>
#include <vcha/genstore.h>
#include <vcha/restore.h>
#include <vcha/rootfs.h>

#define FAR (vcha_now_ms() + 3600 * 1000)

static int
image_write(const char *stage, long mb)
{
    char *dir = NULL, *path = NULL;
    int in = open("/dev/urandom", O_RDONLY | O_CLOEXEC), out = -1, rc = 0;

    if (asprintf(&dir, "%s/images", stage) < 0 ||
        asprintf(&path, "%s/pages-1.img", dir) < 0 || mkdir(dir, 0700) < 0) {
        rc = -errno;
    }
    if (rc == 0 &&
        (out = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600)) < 0) {
        rc = -errno;
    }
    if (rc == 0) {
        rc = vcha_file_copy_fd(in, out, (off_t) mb << 20);
    }
    if (out >= 0) {
        close(out);
    }
    close(in);
    free(path);
    free(dir);
    return rc;
}

static int
make(const char *store, const char *tree, long mb)
{
    struct vcha_genstore *s = NULL;
    char *stage = NULL, *root = NULL, *from = NULL, *gen = NULL, why[512];
    int rc = vcha_genstore_open(store, &s);

    if (rc == 0) {
        rc = vcha_genstore_stage(s, &stage);
    }
    if (rc == 0 && (asprintf(&root, "%s/rootfs", stage) < 0 ||
                    asprintf(&from, "%s/", tree) < 0)) {
        rc = -ENOMEM;
    }
    if (rc == 0) {
        const char *argv[] = {"rsync", "-aH", "--numeric-ids",
                              from,    root,  NULL};

        rc = vcha_exec_until(argv, FAR, why, sizeof(why));
    }
    if (rc == 0) {
        rc = image_write(stage, mb);
    }
    if (rc == 0) {
        rc = vcha_genstore_commit(s, NULL, 100, &gen);
    }
    if (rc == 0) {
        printf("%s\n", gen);
    }
    vcha_genstore_free(s);
    free(gen);
    free(from);
    free(root);
    free(stage);
    return rc;
}

static int
old_way(const char *gen, const char *dst)
{
    char *why = NULL, *from = NULL, ewhy[512];
    long long t0 = vcha_now_ms(), t1;
    int rc = vcha_genstore_verify(gen, 0, &why);

    t1 = vcha_now_ms();
    if (rc == 0 && asprintf(&from, "%s/rootfs", gen) < 0) {
        rc = -ENOMEM;
    }
    if (rc == 0) {
        rc = vcha_rootfs_restore(from, dst, FAR, ewhy, sizeof(ewhy));
    }
    if (rc < 0) {
        fprintf(stderr, "old: %s\n", why ? why : ewhy);
    } else {
        printf("verify_ms=%lld rsync_ms=%lld total_ms=%lld\n", t1 - t0,
               vcha_now_ms() - t1, vcha_now_ms() - t0);
    }
    free(from);
    free(why);
    return rc;
}

static int
new_way(const char *gen, const char *dst, const char *prev_gen, long long since)
{
    struct vcha_gen_manifest *m = NULL, *prev = NULL;
    struct vcha_restore_lineage lin = {.since_ms = since};
    struct vcha_restore_stats st = {0};
    char *why = NULL, *img = NULL, ewhy[512] = "";
    const char *th = getenv("THREADS"); /* 0 (default): one per CPU */
    unsigned threads = th != NULL ? (unsigned) atoi(th) : 0;
    long long t0 = vcha_now_ms(), t1 = 0, t2 = 0;
    int rc = vcha_gen_manifest_read(gen, VCHA_GEN_SIZES_ONLY, &m, &why);

    if (rc == 0 && prev_gen != NULL) {
        rc = strcmp(prev_gen, gen) == 0
                 ? 0
                 : vcha_gen_manifest_read(prev_gen, 0, &prev, &why);
        lin.prev = prev != NULL ? prev : m;
    }
    t1 = vcha_now_ms();
    if (rc == 0 && (asprintf(&img, "%s.images", dst) < 0 ||
                    (vcha_file_remove_tree(img), mkdir(img, 0700)) < 0)) {
        rc = -errno;
    }
    if (rc == 0) {
        rc = vcha_restore_files(m, "images", img, true, threads, FAR, ewhy,
                                sizeof(ewhy));
    }
    t2 = vcha_now_ms();
    if (rc == 0) {
        rc = vcha_restore_tree(m, "rootfs", dst, &lin, threads, FAR, &st, ewhy,
                               sizeof(ewhy));
    }
    if (rc < 0) {
        fprintf(stderr, "new: %s\n", why ? why : ewhy);
    } else {
        printf("manifest_ms=%lld images_ms=%lld tree_ms=%lld total_ms=%lld "
               "proven=%llu hashed=%llu fetched=%llu hashed_mb=%llu "
               "fetched_mb=%llu removed=%llu\n",
               t1 - t0, t2 - t1, vcha_now_ms() - t2, vcha_now_ms() - t0,
               st.proven, st.hashed, st.fetched, st.hashed_bytes >> 20,
               st.fetched_bytes >> 20, st.removed);
    }
    if (img != NULL) {
        vcha_file_remove_tree(img);
    }
    vcha_gen_manifest_free(prev);
    vcha_gen_manifest_free(m);
    free(img);
    free(why);
    return rc;
}

int
main(int argc, char **argv)
{
    int rc = -EINVAL;

    if (argc == 5 && strcmp(argv[1], "make") == 0) {
        rc = make(argv[2], argv[3], atol(argv[4]));
    } else if (argc == 4 && strcmp(argv[1], "old") == 0) {
        rc = old_way(argv[2], argv[3]);
    } else if ((argc == 4 || argc == 6) && strcmp(argv[1], "new") == 0) {
        rc = new_way(argv[2], argv[3], argc == 6 ? argv[4] : NULL,
                     argc == 6 ? atoll(argv[5]) : 0);
    } else {
        fprintf(stderr, "usage: see tests/bench/restore\n");
    }
    if (rc < 0 && rc != -EINVAL) {
        fprintf(stderr, "restore-run: %s\n", strerror(-rc));
    }
    return rc < 0 ? 1 : 0;
}
