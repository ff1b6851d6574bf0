/*
 * Unit tests for libcommon/runtime/clone.c: roles, the clone meta
 * attributes and notifications, read from the environment as Pacemaker sets
 * it (the names of 2.1 and later, and the deprecated ones).
 */
#include <config.h>

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h> /* after stdarg, stddef, setjmp, stdint */

#include <vcha/clone.h>

#define META "OCF_RESKEY_CRM_meta_"

/* Remove every OCF_RESKEY_CRM_meta_ variable. */
static int
reset(void **state)
{
    extern char **environ;
    bool again = true;

    (void) state;
    while (again) {
        again = false;
        for (char **e = environ; *e != NULL; e++) {
            if (strncmp(*e, META, strlen(META)) == 0) {
                char *name = strndup(*e, strcspn(*e, "="));

                assert_non_null(name);
                unsetenv(name);
                free(name);
                again = true;
                break;
            }
        }
    }
    return 0;
}

static void
meta(const char *name, const char *value)
{
    char var[128];

    snprintf(var, sizeof(var), META "%s", name);
    assert_int_equal(setenv(var, value, 1), 0);
}

/* ------------------------------------------------------------ roles */

static void
test_role_parse_names_old_and_new(void **state)
{
    static const struct {
        const char *text;
        enum vcha_role role;
    } cases[] = {
        {"Promoted", VCHA_ROLE_PROMOTED}, {"Unpromoted", VCHA_ROLE_UNPROMOTED},
        {"Master", VCHA_ROLE_PROMOTED},   {"Slave", VCHA_ROLE_UNPROMOTED},
        {"promoted", VCHA_ROLE_PROMOTED}, {"SLAVE", VCHA_ROLE_UNPROMOTED},
        {"Started", VCHA_ROLE_STARTED},   {"Stopped", VCHA_ROLE_STOPPED},
    };
    enum vcha_role r;

    (void) state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_int_equal(vcha_role_parse(cases[i].text, &r), 0);
        assert_int_equal(r, cases[i].role);
    }
}

static void
test_role_parse_rejects_others(void **state)
{
    static const char *const bad[] = {"", "Promote", "Primary", "Master ",
                                      "Unknown"};
    enum vcha_role r = VCHA_ROLE_STARTED;

    (void) state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(vcha_role_parse(bad[i], &r), -EINVAL);
        assert_int_equal(r, VCHA_ROLE_NONE);
    }
    assert_int_equal(vcha_role_parse(NULL, &r), -EINVAL);
}

static void
test_role_name_is_the_new_name(void **state)
{
    (void) state;
    assert_string_equal(vcha_role_name(VCHA_ROLE_PROMOTED), "Promoted");
    assert_string_equal(vcha_role_name(VCHA_ROLE_UNPROMOTED), "Unpromoted");
    assert_string_equal(vcha_role_name(VCHA_ROLE_STARTED), "Started");
    assert_string_equal(vcha_role_name(VCHA_ROLE_STOPPED), "Stopped");
    assert_string_equal(vcha_role_name(VCHA_ROLE_NONE), "");
    assert_string_equal(vcha_role_name((enum vcha_role) 99), "");
}

/* ------------------------------------------------------------ clone */

static void
parse_ok(struct vcha_clone *c)
{
    char why[128] = "untouched";

    assert_int_equal(vcha_clone_parse(c, why, sizeof(why)), 0);
    assert_string_equal(why, "");
}

static void
test_clone_parse_primitive(void **state)
{
    struct vcha_clone c;

    (void) state;
    parse_ok(&c);
    assert_int_equal(c.instance, -1);
    assert_int_equal(c.clone_max, -1);
    assert_int_equal(c.clone_node_max, -1);
    assert_int_equal(c.promoted_max, -1);
    assert_int_equal(c.promoted_node_max, -1);
    assert_false(c.notify);
    assert_false(c.globally_unique);
    assert_int_equal(c.role, VCHA_ROLE_NONE);
    assert_null(c.on_node);
    assert_false(vcha_clone_is_clone(&c));
    assert_false(vcha_clone_is_promotable(&c));
}

/* What Pacemaker 2.1.5 sets for an instance of a promotable clone. */
static void
test_clone_parse_promotable_instance(void **state)
{
    struct vcha_clone c;

    (void) state;
    meta("clone", "1");
    meta("clone_max", "2");
    meta("clone_node_max", "1");
    meta("promoted_max", "1");
    meta("promoted_node_max", "1");
    meta("master_max", "1");
    meta("master_node_max", "1");
    meta("notify", "true");
    meta("globally_unique", "false");
    meta("role", "Promoted");
    meta("on_node", "node2");
    parse_ok(&c);
    assert_int_equal(c.instance, 1);
    assert_int_equal(c.clone_max, 2);
    assert_int_equal(c.clone_node_max, 1);
    assert_int_equal(c.promoted_max, 1);
    assert_int_equal(c.promoted_node_max, 1);
    assert_true(c.notify);
    assert_false(c.globally_unique);
    assert_int_equal(c.role, VCHA_ROLE_PROMOTED);
    assert_string_equal(c.on_node, "node2");
    assert_true(vcha_clone_is_clone(&c));
    assert_true(vcha_clone_is_promotable(&c));
}

static void
test_clone_parse_plain_clone_is_not_promotable(void **state)
{
    struct vcha_clone c;

    (void) state;
    meta("clone", "0");
    meta("clone_max", "3");
    meta("globally_unique", "true");
    parse_ok(&c);
    assert_true(vcha_clone_is_clone(&c));
    assert_false(vcha_clone_is_promotable(&c));
    assert_true(c.globally_unique);
    assert_int_equal(c.instance, 0);
}

/* Pacemaker before 2.1 sets only master_max and master_node_max. */
static void
test_clone_parse_reads_deprecated_names(void **state)
{
    struct vcha_clone c;

    (void) state;
    meta("clone", "0");
    meta("master_max", "2");
    meta("master_node_max", "1");
    meta("role", "Slave");
    parse_ok(&c);
    assert_int_equal(c.promoted_max, 2);
    assert_int_equal(c.promoted_node_max, 1);
    assert_int_equal(c.role, VCHA_ROLE_UNPROMOTED);
    assert_true(vcha_clone_is_promotable(&c));
}

static void
test_clone_parse_new_name_wins(void **state)
{
    struct vcha_clone c;

    (void) state;
    meta("clone", "0");
    meta("promoted_max", "1");
    meta("master_max", "3");
    meta("promoted_node_max", "");
    meta("master_node_max", "2");
    parse_ok(&c);
    assert_int_equal(c.promoted_max, 1);
    assert_int_equal(c.promoted_node_max, 2); /* an empty value is none */
}

static void
test_clone_parse_malformed_values(void **state)
{
    struct vcha_clone c;
    char why[128];

    (void) state;
    meta("clone", "1");
    meta("clone_max", "two");
    meta("clone_node_max", "-1");
    meta("notify", "maybe");
    meta("role", "Primary");
    assert_int_equal(vcha_clone_parse(&c, why, sizeof(why)), -EINVAL);
    /* the first one is named, the others are left out too */
    assert_string_equal(why, "malformed " META "clone_max='two'");
    assert_int_equal(c.instance, 1);
    assert_int_equal(c.clone_max, -1);
    assert_int_equal(c.clone_node_max, -1);
    assert_false(c.notify);
    assert_int_equal(c.role, VCHA_ROLE_NONE);
}

static void
test_clone_parse_malformed_role_alone(void **state)
{
    struct vcha_clone c;
    char why[128];

    (void) state;
    meta("role", "Boss");
    assert_int_equal(vcha_clone_parse(&c, why, sizeof(why)), -EINVAL);
    assert_string_equal(why, "malformed " META "role='Boss'");
    assert_int_equal(vcha_clone_parse(&c, NULL, 0), -EINVAL);
}

/* ------------------------------------------------------------ notify */

/* The environment of a pre-promote notification on node2. */
static void
pre_promote(void)
{
    meta("notify_type", "pre");
    meta("notify_operation", "promote");
    meta("notify_start_resource", " ");
    meta("notify_start_uname", " ");
    meta("notify_stop_resource", " ");
    meta("notify_stop_uname", " ");
    meta("notify_promote_resource", "st:1 ");
    meta("notify_promote_uname", "node2 ");
    meta("notify_demote_resource", "st:0 ");
    meta("notify_demote_uname", "node1 ");
    meta("notify_active_resource", "st:0 st:1 ");
    meta("notify_active_uname", "node1 node2 ");
    meta("notify_inactive_resource", "st:2 ");
    meta("notify_promoted_resource", "st:0 ");
    meta("notify_promoted_uname", "node1 ");
    meta("notify_master_resource", "st:0 ");
    meta("notify_master_uname", "node1 ");
    meta("notify_unpromoted_resource", "st:1 ");
    meta("notify_unpromoted_uname", "node2 ");
    meta("notify_slave_resource", "st:1 ");
    meta("notify_slave_uname", "node2 ");
    meta("notify_all_uname", "node1 node2 node3");
    meta("notify_available_uname", "node2 node1");
}

static struct vcha_notify *
notify_ok(void)
{
    struct vcha_notify *n = NULL;
    char why[128] = "";

    assert_int_equal(vcha_notify_parse(&n, why, sizeof(why)), 0);
    assert_non_null(n);
    return n;
}

static void
assert_words(const struct vcha_words *w, const char *const *expect)
{
    size_t n = 0;

    while (expect[n] != NULL) {
        n++;
    }
    assert_int_equal(w->n, n);
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(w->v[i], expect[i]);
    }
    assert_null(w->v[n]);
}

#define WORDS(...)                                                             \
    (const char *const[])                                                      \
    {                                                                          \
        __VA_ARGS__, NULL                                                      \
    }
#define NO_WORDS                                                               \
    (const char *const[])                                                      \
    {                                                                          \
        NULL                                                                   \
    }

static void
test_notify_parse_pre_promote(void **state)
{
    struct vcha_notify *n;

    (void) state;
    pre_promote();
    n = notify_ok();
    assert_int_equal(n->type, VCHA_NOTIFY_PRE);
    assert_int_equal(n->operation, VCHA_NOTIFY_PROMOTE);
    assert_words(&n->lists[n->operation].resources, WORDS("st:1"));
    assert_words(&n->lists[n->operation].unames, WORDS("node2"));
    assert_words(&n->lists[VCHA_NOTIFY_START].resources, NO_WORDS);
    assert_words(&n->lists[VCHA_NOTIFY_START].unames, NO_WORDS);
    assert_words(&n->lists[VCHA_NOTIFY_STOP].unames, NO_WORDS);
    assert_words(&n->lists[VCHA_NOTIFY_DEMOTE].unames, WORDS("node1"));
    assert_words(&n->lists[VCHA_NOTIFY_ACTIVE].resources,
                 WORDS("st:0", "st:1"));
    assert_words(&n->lists[VCHA_NOTIFY_ACTIVE].unames, WORDS("node1", "node2"));
    assert_words(&n->lists[VCHA_NOTIFY_INACTIVE].resources, WORDS("st:2"));
    assert_words(&n->lists[VCHA_NOTIFY_INACTIVE].unames, NO_WORDS);
    assert_words(&n->lists[VCHA_NOTIFY_PROMOTED].unames, WORDS("node1"));
    assert_words(&n->lists[VCHA_NOTIFY_UNPROMOTED].resources, WORDS("st:1"));
    assert_words(&n->lists[VCHA_NOTIFY_ALL].unames,
                 WORDS("node1", "node2", "node3"));
    assert_words(&n->lists[VCHA_NOTIFY_AVAILABLE].unames,
                 WORDS("node2", "node1"));
    vcha_notify_free(n);
}

/* Pacemaker 2.0 sets only the master and slave lists. */
static void
test_notify_parse_reads_deprecated_lists(void **state)
{
    struct vcha_notify *n;

    (void) state;
    meta("notify_type", "post");
    meta("notify_operation", "demote");
    meta("notify_master_resource", "st:0");
    meta("notify_master_uname", "node1");
    meta("notify_slave_resource", "st:1 st:2");
    meta("notify_slave_uname", "node2\tnode3");
    n = notify_ok();
    assert_int_equal(n->type, VCHA_NOTIFY_POST);
    assert_int_equal(n->operation, VCHA_NOTIFY_DEMOTE);
    assert_words(&n->lists[VCHA_NOTIFY_PROMOTED].resources, WORDS("st:0"));
    assert_words(&n->lists[VCHA_NOTIFY_PROMOTED].unames, WORDS("node1"));
    assert_words(&n->lists[VCHA_NOTIFY_UNPROMOTED].unames,
                 WORDS("node2", "node3"));
    vcha_notify_free(n);
}

/* An empty new list (" ") is empty, whatever an old name says. */
static void
test_notify_parse_new_list_wins(void **state)
{
    struct vcha_notify *n;

    (void) state;
    meta("notify_type", "pre");
    meta("notify_operation", "start");
    meta("notify_promoted_uname", " ");
    meta("notify_master_uname", "node9");
    meta("notify_unpromoted_uname", "node1");
    meta("notify_slave_uname", "node9");
    n = notify_ok();
    assert_words(&n->lists[VCHA_NOTIFY_PROMOTED].unames, NO_WORDS);
    assert_words(&n->lists[VCHA_NOTIFY_UNPROMOTED].unames, WORDS("node1"));
    vcha_notify_free(n);
}

static void
test_notify_parse_each_operation(void **state)
{
    static const struct {
        const char *text;
        enum vcha_notify_list op;
    } ops[] = {
        {"start", VCHA_NOTIFY_START},
        {"stop", VCHA_NOTIFY_STOP},
        {"promote", VCHA_NOTIFY_PROMOTE},
        {"demote", VCHA_NOTIFY_DEMOTE},
    };

    (void) state;
    meta("notify_type", "post");
    for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
        struct vcha_notify *n;

        meta("notify_operation", ops[i].text);
        n = notify_ok();
        assert_int_equal(n->operation, ops[i].op);
        vcha_notify_free(n);
    }
}

/* The key_ names carry the same, for agents that read those. */
static void
test_notify_parse_key_names(void **state)
{
    struct vcha_notify *n;

    (void) state;
    meta("notify_key_type", "post");
    meta("notify_key_operation", "stop");
    n = notify_ok();
    assert_int_equal(n->type, VCHA_NOTIFY_POST);
    assert_int_equal(n->operation, VCHA_NOTIFY_STOP);
    vcha_notify_free(n);
}

static void
assert_notify_rejected(const char *expect_why)
{
    struct vcha_notify *n = (struct vcha_notify *) 1;
    char why[128] = "";

    assert_int_equal(vcha_notify_parse(&n, why, sizeof(why)), -EINVAL);
    assert_null(n);
    assert_string_equal(why, expect_why);
}

static void
test_notify_parse_rejects_bad_type_or_operation(void **state)
{
    (void) state;
    assert_notify_rejected("notification type (none) is not pre or post");
    meta("notify_type", "during");
    meta("notify_operation", "start");
    assert_notify_rejected("notification type 'during' is not pre or post");
    meta("notify_type", "pre");
    meta("notify_operation", "monitor");
    assert_notify_rejected("notification operation 'monitor' is unknown");
    unsetenv(META "notify_operation");
    assert_notify_rejected("notification operation (none) is unknown");
}

static void
test_notify_has_uname(void **state)
{
    struct vcha_notify *n;

    (void) state;
    pre_promote();
    n = notify_ok();
    assert_true(vcha_notify_has_uname(n, VCHA_NOTIFY_PROMOTE, "node2"));
    assert_false(vcha_notify_has_uname(n, VCHA_NOTIFY_PROMOTE, "node1"));
    assert_false(vcha_notify_has_uname(n, VCHA_NOTIFY_PROMOTE, "node"));
    assert_true(vcha_notify_has_uname(n, VCHA_NOTIFY_ACTIVE, "node1"));
    assert_false(vcha_notify_has_uname(n, VCHA_NOTIFY_START, "node1"));
    assert_false(vcha_notify_has_uname(n, VCHA_NOTIFY_N_LISTS, "node1"));
    assert_false(vcha_notify_has_uname(n, VCHA_NOTIFY_ACTIVE, NULL));
    assert_false(vcha_notify_has_uname(NULL, VCHA_NOTIFY_ACTIVE, "node1"));
    vcha_notify_free(n);
}

static void
test_notify_free_null(void **state)
{
    (void) state;
    vcha_notify_free(NULL);
}

static void
test_notify_names(void **state)
{
    static const char *const names[] = {
        "start",    "stop",     "promote",    "demote", "active",
        "inactive", "promoted", "unpromoted", "all",    "available"};

    (void) state;
    for (int l = 0; l < VCHA_NOTIFY_N_LISTS; l++) {
        assert_string_equal(vcha_notify_list_name((enum vcha_notify_list) l),
                            names[l]);
    }
    assert_string_equal(vcha_notify_list_name(VCHA_NOTIFY_N_LISTS), "");
    assert_string_equal(vcha_notify_type_name(VCHA_NOTIFY_PRE), "pre");
    assert_string_equal(vcha_notify_type_name(VCHA_NOTIFY_POST), "post");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_role_parse_names_old_and_new),
        cmocka_unit_test(test_role_parse_rejects_others),
        cmocka_unit_test(test_role_name_is_the_new_name),
        cmocka_unit_test_setup(test_clone_parse_primitive, reset),
        cmocka_unit_test_setup(test_clone_parse_promotable_instance, reset),
        cmocka_unit_test_setup(test_clone_parse_plain_clone_is_not_promotable,
                               reset),
        cmocka_unit_test_setup(test_clone_parse_reads_deprecated_names, reset),
        cmocka_unit_test_setup(test_clone_parse_new_name_wins, reset),
        cmocka_unit_test_setup(test_clone_parse_malformed_values, reset),
        cmocka_unit_test_setup(test_clone_parse_malformed_role_alone, reset),
        cmocka_unit_test_setup(test_notify_parse_pre_promote, reset),
        cmocka_unit_test_setup(test_notify_parse_reads_deprecated_lists, reset),
        cmocka_unit_test_setup(test_notify_parse_new_list_wins, reset),
        cmocka_unit_test_setup(test_notify_parse_each_operation, reset),
        cmocka_unit_test_setup(test_notify_parse_key_names, reset),
        cmocka_unit_test_setup(test_notify_parse_rejects_bad_type_or_operation,
                               reset),
        cmocka_unit_test_setup(test_notify_has_uname, reset),
        cmocka_unit_test(test_notify_free_null),
        cmocka_unit_test(test_notify_names),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
