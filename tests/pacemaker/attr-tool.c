/*
 * Drives libcommon's node-attribute functions from the command line, so
 * that tests can run them against a real Pacemaker:
 *   attr-tool get NAME | node-get NAME | set NAME VALUE | delete NAME
 *   attr-tool promote SCORE | unpromote
 *   attr-tool util NAME VALUE (of resource $OCF_RESOURCE_INSTANCE)
 *   attr-tool prop-get SET NAME | prop-set SET NAME VALUE |
 *             prop-delete SET NAME (a cluster property of vcha's)
 * Prints the value (get), or the negative errno on failure (exit 1).
 */
#include <config.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vcha/attr.h>

#define TIMEOUT_MS 10000

static int
get(int (*fn)(const char *, const char *, char **, long long), const char *name)
{
    char *value = NULL;
    int rc = fn(name, NULL, &value, TIMEOUT_MS);

    if (rc == 0) {
        printf("%s\n", value);
    }
    free(value);
    return rc;
}

static int
run(int argc, char **argv)
{
    const char *cmd = argc > 1 ? argv[1] : "";

    if (argc == 3 && strcmp(cmd, "get") == 0) {
        return get(vcha_attr_get, argv[2]);
    } else if (argc == 3 && strcmp(cmd, "node-get") == 0) {
        return get(vcha_node_attr_get, argv[2]);
    } else if (argc == 4 && strcmp(cmd, "set") == 0) {
        return vcha_attr_set(argv[2], argv[3], TIMEOUT_MS);
    } else if (argc == 3 && strcmp(cmd, "delete") == 0) {
        return vcha_attr_delete(argv[2], TIMEOUT_MS);
    } else if (argc == 3 && strcmp(cmd, "promote") == 0) {
        return vcha_promotion_set(atoi(argv[2]), TIMEOUT_MS);
    } else if (argc == 2 && strcmp(cmd, "unpromote") == 0) {
        return vcha_promotion_delete(TIMEOUT_MS);
    } else if (argc == 4 && strcmp(cmd, "util") == 0) {
        return vcha_utilization_set(argv[2], argv[3], TIMEOUT_MS);
    } else if (argc == 4 && strcmp(cmd, "prop-get") == 0) {
        char *value = NULL;
        int rc = vcha_cluster_prop_get(argv[2], argv[3], &value, TIMEOUT_MS);

        if (rc == 0) {
            printf("%s\n", value);
        }
        free(value);
        return rc;
    } else if (argc == 5 && strcmp(cmd, "prop-set") == 0) {
        return vcha_cluster_prop_set(argv[2], argv[3], argv[4], TIMEOUT_MS);
    } else if (argc == 4 && strcmp(cmd, "prop-delete") == 0) {
        return vcha_cluster_prop_delete(argv[2], argv[3], TIMEOUT_MS);
    }
    fprintf(stderr, "usage: attr-tool get|node-get|set|delete|promote|"
                    "unpromote|util|prop-get|prop-set|prop-delete ...\n");
    return -22;
}

int
main(int argc, char **argv)
{
    int rc = run(argc, argv);

    if (rc < 0) {
        printf("%d\n", rc);
        return 1;
    }
    return 0;
}
