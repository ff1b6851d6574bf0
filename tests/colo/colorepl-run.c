/*
 * colorepl-run - COLO replication from a running primary, driven from a
 * test (libcommon/colo/colorepl.c), and QMP commands for the test to look
 * with.
 *
 *   colorepl-run replicate SOCKET PEER BASE_PORT SOCK_DIR DELAY_MS SECONDS
 *       start replication on the primary of QMP SOCKET towards the
 *       secondary at PEER; prints each phase's milliseconds
 *       ("mirror_ms=N pause_ms=N net_ms=N migrate_ms=N")
 *   colorepl-run unreplicate SOCKET SECONDS
 *       the primary goes on alone
 *   colorepl-run qmp SOCKET COMMAND [ARGUMENTS-JSON]
 *       run one command; prints its answer's "return" as JSON
 *
 * Exit 0, or 1 with the reason on stderr.
 */
#include <config.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include <vcha/clock.h>
#include <vcha/colorepl.h>
#include <vcha/qmp.h>

static int
usage(void)
{
    fprintf(stderr,
            "usage: colorepl-run replicate SOCKET PEER BASE_PORT SOCK_DIR "
            "DELAY_MS SECONDS\n"
            "       colorepl-run unreplicate SOCKET SECONDS\n"
            "       colorepl-run qmp SOCKET COMMAND [ARGUMENTS-JSON]\n");
    return 2;
}

int
main(int argc, char **argv)
{
    struct vcha_qmp *q = NULL;
    char why[1024] = "";
    long long deadline;
    int rc;

    if (argc < 4) {
        return usage();
    }
    deadline = vcha_now_ms() + 30000;
    if (strcmp(argv[1], "replicate") == 0 && argc == 8) {
        deadline = vcha_now_ms() + atoll(argv[7]) * 1000;
    } else if (strcmp(argv[1], "unreplicate") == 0 && argc == 4) {
        deadline = vcha_now_ms() + atoll(argv[3]) * 1000;
    } else if (strcmp(argv[1], "qmp") != 0 || argc > 5) {
        return usage();
    }
    rc = vcha_qmp_open(argv[2], vcha_now_ms() + 10000, &q);
    if (rc < 0) {
        fprintf(stderr, "colorepl-run: %s: %s\n", argv[2], strerror(-rc));
        return 1;
    }
    if (strcmp(argv[1], "replicate") == 0) {
        struct vcha_colorepl r = {.peer = argv[3],
                                  .base_port = (unsigned) atoi(argv[4]),
                                  .sock_dir = argv[5],
                                  .delay_ms = atoll(argv[6])};
        long long ms[VCHA_COLOREPL_N_PHASES];

        rc = vcha_colo_replicate(q, &r, deadline, ms, why, sizeof(why));
        if (rc == 0) {
            printf("mirror_ms=%lld pause_ms=%lld net_ms=%lld migrate_ms=%lld\n",
                   ms[VCHA_COLOREPL_MIRROR], ms[VCHA_COLOREPL_PAUSE],
                   ms[VCHA_COLOREPL_NET], ms[VCHA_COLOREPL_MIGRATE]);
        }
    } else if (strcmp(argv[1], "unreplicate") == 0) {
        rc = vcha_colo_unreplicate(q, deadline, why, sizeof(why));
    } else {
        json_object *args = argc == 5 ? json_tokener_parse(argv[4]) : NULL;
        json_object *ret = NULL;
        char *err = NULL;

        if (argc == 5 && args == NULL) {
            vcha_qmp_close(q);
            return usage();
        }
        rc = vcha_qmp_exec(q, argv[3], args, deadline, &ret, &err);
        if (rc == 0) {
            printf("%s\n",
                   json_object_to_json_string_ext(ret, JSON_C_TO_STRING_PLAIN));
        } else {
            snprintf(why, sizeof(why), "%s", err != NULL ? err : strerror(-rc));
        }
        json_object_put(ret);
        free(err);
    }
    vcha_qmp_close(q);
    if (rc < 0) {
        fprintf(stderr, "colorepl-run: %s\n", why);
        return 1;
    }
    return 0;
}
