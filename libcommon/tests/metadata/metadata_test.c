/* Unit tests for libcommon/runtime/metadata.c: meta-data XML and usage. */
#include <config.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h> /* after stdarg, stddef, setjmp, stdint */

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xpath.h>

#include <vcha/metadata.h>

#include "../test-xml.h"

/* ------------------------------------------------------------ the agent */

static enum vcha_result
noop(struct vcha_agent *a)
{
    (void) a;
    return VCHA_OK;
}

static const char *const modes[] = {"fast", "slow", "careful", NULL};

static const struct vcha_param_def params[] = {
    {.name = "addr",
     .type = VCHA_PT_STRING,
     .required = true,
     .unique = true,
     .unique_group = "address",
     .shortdesc = "Address",
     .longdesc = "The address to serve."},
    {.name = "port",
     .type = VCHA_PT_INTEGER,
     .dflt = "53",
     .min = 1,
     .max = 65535,
     .reloadable = true,
     .shortdesc = "Port",
     .longdesc = "The port."},
    {.name = "enabled",
     .type = VCHA_PT_BOOLEAN,
     .dflt = "true",
     .shortdesc = "Enabled",
     .longdesc = "Whether it is on."},
    {.name = "mode",
     .type = VCHA_PT_SELECT,
     .dflt = "fast",
     .options = modes,
     .shortdesc = "Mode",
     .longdesc = "How to run."},
    {.name = "wait",
     .type = VCHA_PT_DURATION,
     .dflt = "30s",
     .reloadable = true,
     .shortdesc = "Wait",
     .longdesc = "How long."},
};

static const struct vcha_action_def actions[] = {
    {.name = "start", .fn = noop, .timeout_s = 30, .depth = -1},
    {.name = "stop", .fn = noop, .timeout_s = 20, .depth = -1},
    {.name = "monitor",
     .fn = noop,
     .timeout_s = 20,
     .interval_s = 10,
     .depth = 10},
    {.name = "monitor",
     .fn = noop,
     .timeout_s = 25,
     .interval_s = 11,
     .depth = -1,
     .role = "Promoted"},
    {.name = "promote", .fn = noop, .timeout_s = 40, .depth = 5},
    {.name = "meta-data", .timeout_s = 5, .depth = -1},
    {.name = "validate-all", .timeout_s = 30, .depth = -1},
};

static const struct vcha_metadata agent = {
    .name = "testagent",
    .version = "2.5",
    .shortdesc = "A test agent",
    .longdesc = "An agent that exists only in a unit test.",
    .params = params,
    .n_params = sizeof(params) / sizeof(params[0]),
    .actions = actions,
    .n_actions = sizeof(actions) / sizeof(actions[0]),
};

/* Text with every character that must be escaped in XML. */
#define NASTY "a < b && c > \"d\" 'e' ]]> <!-- &amp;"

static const struct vcha_param_def nasty_params[] = {
    {.name = "p",
     .type = VCHA_PT_STRING,
     .dflt = NASTY,
     .shortdesc = NASTY,
     .longdesc = NASTY},
};

static const struct vcha_metadata nasty_agent = {
    .name = "nasty",
    .version = "1.0",
    .shortdesc = NASTY,
    .longdesc = NASTY,
    .params = nasty_params,
    .n_params = 1,
};

static const struct vcha_metadata empty_agent = {
    .name = "empty", .version = "0.1", .shortdesc = "s", .longdesc = "l"};

/* ------------------------------------------------------------ helpers */

struct fixture {
    char *xml;
    size_t len;
    xmlDocPtr doc;
};

static xmlDocPtr
parse_xml(const char *xml, size_t len)
{
    xmlDocPtr doc = xmlReadMemory(xml, (int) len, "metadata.xml", NULL,
                                  XML_PARSE_NONET | XML_PARSE_NOERROR);

    if (doc == NULL) {
        fail_msg("meta-data is not well-formed XML:\n%s", xml);
    }
    return doc;
}

static int
fixture_new(const struct vcha_metadata *def, struct fixture **out)
{
    struct fixture *f = calloc(1, sizeof(*f));

    if (f == NULL || vcha_metadata_xml(def, &f->xml, &f->len) != 0) {
        free(f);
        return -1;
    }
    f->doc = parse_xml(f->xml, f->len);
    *out = f;
    return 0;
}

static int
setup_agent(void **state)
{
    return fixture_new(&agent, (struct fixture **) state);
}

static int
setup_nasty(void **state)
{
    return fixture_new(&nasty_agent, (struct fixture **) state);
}

static int
setup_empty(void **state)
{
    return fixture_new(&empty_agent, (struct fixture **) state);
}

static int
teardown(void **state)
{
    struct fixture *f = *state;

    xmlFreeDoc(f->doc);
    free(f->xml);
    free(f);
    return 0;
}

static char *
usage_text(const struct vcha_metadata *def)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);

    assert_non_null(f);
    vcha_usage_print(def, f);
    fclose(f);
    assert_non_null(text);
    return text;
}

/* @p needle must occur in @p text after @p from; returns where. */
static const char *
assert_after(const char *text, const char *from, const char *needle)
{
    const char *at = strstr(from, needle);

    if (at == NULL) {
        fail_msg("'%s' not found (in order) in:\n%s", needle, text);
    }
    return at + strlen(needle);
}

static void
assert_starts_with(const char *text, const char *prefix)
{
    if (strncmp(text, prefix, strlen(prefix)) != 0) {
        fail_msg("'%s' does not start with '%s'", text, prefix);
    }
}

/* ------------------------------------------------------------ document */

static void
test_metadata_length_matches_text(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(f->len, strlen(f->xml));
}

static void
test_metadata_length_is_optional(void **state)
{
    char *xml = NULL;

    (void) state;
    assert_int_equal(vcha_metadata_xml(&agent, &xml, NULL), 0);
    assert_non_null(xml);
    free(xml);
}

static void
test_metadata_doctype_names_ra_api_dtd(void **state)
{
    struct fixture *f = *state;
    xmlDtdPtr dtd = xmlGetIntSubset(f->doc);

    assert_non_null(dtd);
    assert_string_equal((const char *) dtd->name, "resource-agent");
    assert_string_equal((const char *) dtd->SystemID, "ra-api-1.dtd");
    assert_non_null(strstr(f->xml, "<!DOCTYPE resource-agent SYSTEM "
                                   "\"ra-api-1.dtd\">"));
}

static void
test_metadata_starts_with_xml_declaration(void **state)
{
    struct fixture *f = *state;

    /* no encoding named: XML defaults to UTF-8 */
    assert_starts_with(f->xml, "<?xml version=\"1.0\"");
}

static void
test_metadata_root_names_agent_and_version(void **state)
{
    struct fixture *f = *state;

    assert_xpath_count(f->doc, "/resource-agent", 1);
    assert_xpath_str(f->doc, "/resource-agent/@name", "testagent");
    assert_xpath_str(f->doc, "/resource-agent/@version", "2.5");
}

static void
test_metadata_ocf_version_is_1_1(void **state)
{
    struct fixture *f = *state;

    assert_xpath_count(f->doc, "/resource-agent/version", 1);
    assert_xpath_str(f->doc, "/resource-agent/version", "1.1");
    /* the DTD wants version first */
    assert_xpath_str(f->doc, "name(/resource-agent/*[1])", "version");
}

static void
test_metadata_agent_descriptions(void **state)
{
    struct fixture *f = *state;

    assert_xpath_str(f->doc, "/resource-agent/shortdesc", "A test agent");
    assert_xpath_str(f->doc, "/resource-agent/shortdesc/@lang", "en");
    assert_xpath_str(f->doc, "/resource-agent/longdesc",
                     "An agent that exists only in a unit test.");
    assert_xpath_str(f->doc, "/resource-agent/longdesc/@lang", "en");
}

static void
test_metadata_child_order_follows_dtd(void **state)
{
    struct fixture *f = *state;

    assert_xpath_count(f->doc, "/resource-agent/*", 5);
    assert_xpath_str(f->doc, "name(/resource-agent/*[2])", "longdesc");
    assert_xpath_str(f->doc, "name(/resource-agent/*[3])", "shortdesc");
    assert_xpath_str(f->doc, "name(/resource-agent/*[4])", "parameters");
    assert_xpath_str(f->doc, "name(/resource-agent/*[5])", "actions");
}

/* ------------------------------------------------------------ parameters */

static void
test_metadata_parameters_in_table_order(void **state)
{
    struct fixture *f = *state;
    static const char *const names[] = {"addr", "port", "enabled", "mode",
                                        "wait"};

    assert_xpath_count(f->doc, "/resource-agent/parameters/parameter", 5);
    for (size_t i = 0; i < 5; i++) {
        char expr[96];

        snprintf(expr, sizeof(expr),
                 "/resource-agent/parameters/parameter[%zu]/@name", i + 1);
        assert_xpath_str(f->doc, expr, names[i]);
    }
}

static void
test_metadata_required_and_unique_flags(void **state)
{
    struct fixture *f = *state;

    assert_xpath_str(f->doc, PARAM("addr") "/@required", "1");
    assert_xpath_str(f->doc, PARAM("addr") "/@unique", "1");
    assert_xpath_str(f->doc, PARAM("port") "/@required", "0");
    assert_xpath_str(f->doc, PARAM("port") "/@unique", "0");
}

static void
test_metadata_unique_group_only_where_set(void **state)
{
    struct fixture *f = *state;

    assert_xpath_str(f->doc, PARAM("addr") "/@unique-group", "address");
    assert_xpath_count(f->doc, "//parameter/@unique-group", 1);
}

static void
test_metadata_reloadable_only_where_set(void **state)
{
    struct fixture *f = *state;

    assert_xpath_str(f->doc, PARAM("port") "/@reloadable", "1");
    assert_xpath_str(f->doc, PARAM("wait") "/@reloadable", "1");
    assert_xpath_count(f->doc, "//parameter/@reloadable", 2);
}

static void
test_metadata_parameter_descriptions(void **state)
{
    struct fixture *f = *state;

    assert_xpath_str(f->doc, PARAM("addr") "/shortdesc", "Address");
    assert_xpath_str(f->doc, PARAM("addr") "/shortdesc/@lang", "en");
    assert_xpath_str(f->doc, PARAM("addr") "/longdesc",
                     "The address to serve.");
    assert_xpath_str(f->doc, PARAM("addr") "/longdesc/@lang", "en");
    /* DTD order: longdesc, shortdesc, content */
    assert_xpath_str(f->doc, "name(" PARAM("addr") "/*[1])", "longdesc");
    assert_xpath_str(f->doc, "name(" PARAM("addr") "/*[2])", "shortdesc");
    assert_xpath_str(f->doc, "name(" PARAM("addr") "/*[3])", "content");
}

static void
test_metadata_content_types(void **state)
{
    struct fixture *f = *state;

    assert_xpath_str(f->doc, PARAM("addr") "/content/@type", "string");
    assert_xpath_str(f->doc, PARAM("port") "/content/@type", "integer");
    assert_xpath_str(f->doc, PARAM("enabled") "/content/@type", "boolean");
    assert_xpath_str(f->doc, PARAM("mode") "/content/@type", "select");
    /* OCF 1.1 has no duration type: durations travel as strings */
    assert_xpath_str(f->doc, PARAM("wait") "/content/@type", "string");
}

static void
test_metadata_defaults_only_where_set(void **state)
{
    struct fixture *f = *state;

    assert_xpath_count(f->doc, PARAM("addr") "/content/@default", 0);
    assert_xpath_str(f->doc, PARAM("port") "/content/@default", "53");
    assert_xpath_str(f->doc, PARAM("enabled") "/content/@default", "true");
    assert_xpath_str(f->doc, PARAM("mode") "/content/@default", "fast");
    assert_xpath_str(f->doc, PARAM("wait") "/content/@default", "30s");
}

static void
test_metadata_select_options_in_order(void **state)
{
    struct fixture *f = *state;

    assert_xpath_count(f->doc, PARAM("mode") "/content/option", 3);
    assert_xpath_str(f->doc, PARAM("mode") "/content/option[1]/@value", "fast");
    assert_xpath_str(f->doc, PARAM("mode") "/content/option[2]/@value", "slow");
    assert_xpath_str(f->doc, PARAM("mode") "/content/option[3]/@value",
                     "careful");
    assert_xpath_count(f->doc, "//option", 3); /* none on other types */
}

/* ------------------------------------------------------------ actions */

static void
test_metadata_actions_in_table_order(void **state)
{
    struct fixture *f = *state;
    static const char *const names[] = {"start",       "stop",    "monitor",
                                        "monitor",     "promote", "meta-data",
                                        "validate-all"};

    assert_xpath_count(f->doc, ACTION, 7);
    for (size_t i = 0; i < 7; i++) {
        char expr[64];

        snprintf(expr, sizeof(expr), ACTION "[%zu]/@name", i + 1);
        assert_xpath_str(f->doc, expr, names[i]);
    }
}

static void
test_metadata_action_timeouts_in_seconds(void **state)
{
    struct fixture *f = *state;

    assert_xpath_str(f->doc, ACTION "[@name='start']/@timeout", "30s");
    assert_xpath_str(f->doc, ACTION "[@name='stop']/@timeout", "20s");
    assert_xpath_str(f->doc, ACTION "[@name='meta-data']/@timeout", "5s");
    assert_xpath_str(f->doc, ACTION "[@name='validate-all']/@timeout", "30s");
    assert_xpath_count(f->doc, ACTION "[not(@timeout)]", 0);
}

static void
test_metadata_interval_only_on_recurring_actions(void **state)
{
    struct fixture *f = *state;

    assert_xpath_str(f->doc, ACTION "[3]/@interval", "10s");
    assert_xpath_str(f->doc, ACTION "[4]/@interval", "11s");
    assert_xpath_count(f->doc, ACTION "/@interval", 2);
}

static void
test_metadata_depth_only_with_an_interval(void **state)
{
    struct fixture *f = *state;

    assert_xpath_str(f->doc, ACTION "[3]/@depth", "10");
    /* promote has depth 5 but no interval; the other monitor depth -1 */
    assert_xpath_count(f->doc, ACTION "[@name='promote']/@depth", 0);
    assert_xpath_count(f->doc, ACTION "/@depth", 1);
}

static void
test_metadata_role_only_where_set(void **state)
{
    struct fixture *f = *state;

    assert_xpath_str(f->doc, ACTION "[4]/@role", "Promoted");
    assert_xpath_count(f->doc, ACTION "/@role", 1);
}

/* ------------------------------------------------------------ escaping */

static void
test_metadata_escapes_special_characters(void **state)
{
    struct fixture *f = *state; /* parsing it already succeeded */

    assert_xpath_str(f->doc, "/resource-agent/shortdesc", NASTY);
    assert_xpath_str(f->doc, "/resource-agent/longdesc", NASTY);
    assert_xpath_str(f->doc, PARAM("p") "/shortdesc", NASTY);
    assert_xpath_str(f->doc, PARAM("p") "/longdesc", NASTY);
    assert_xpath_str(f->doc, PARAM("p") "/content/@default", NASTY);
    assert_null(strstr(f->xml, "<!--")); /* no raw comment opener */
}

static void
test_metadata_without_parameters_or_actions(void **state)
{
    struct fixture *f = *state;

    assert_xpath_count(f->doc, "/resource-agent/parameters", 1);
    assert_xpath_count(f->doc, "/resource-agent/parameters/*", 0);
    assert_xpath_count(f->doc, "/resource-agent/actions", 1);
    assert_xpath_count(f->doc, "/resource-agent/actions/*", 0);
}

/* ------------------------------------------------------------ usage */

static void
test_usage_lists_actions_then_usage(void **state)
{
    char *text = usage_text(&agent);

    (void) state;
    /* the monitor of each role is one action to a user */
    assert_starts_with(text, "usage: testagent {start|stop|monitor|promote|"
                             "meta-data|validate-all|usage}\n");
    free(text);
}

static void
test_usage_has_shortdesc_before_parameters(void **state)
{
    char *text = usage_text(&agent);
    const char *at;

    (void) state;
    at = assert_after(text, text, "\nA test agent\n");
    assert_after(text, at, "Parameters (as OCF_RESKEY_<name>):\n");
    free(text);
}

static void
test_usage_describes_each_parameter_in_order(void **state)
{
    char *text = usage_text(&agent);
    const char *at = text;

    (void) state;
    at = assert_after(text, at, "  addr (string, required, unique)\n");
    at = assert_after(text, at, "      Address\n");
    at = assert_after(text, at, "  port (integer, default 53)\n");
    at = assert_after(text, at, "  enabled (boolean, default true)\n");
    at = assert_after(text, at, "  mode (select, default fast)\n");
    at = assert_after(text, at, "      one of: fast slow careful\n");
    at = assert_after(text, at, "  wait (duration, default 30s)\n");
    assert_after(text, at, "      Wait\n");
    free(text);
}

static void
test_usage_lists_options_only_for_select(void **state)
{
    char *text = usage_text(&agent);
    const char *first = strstr(text, "one of:");

    (void) state;
    assert_non_null(first);
    assert_null(strstr(first + 1, "one of:"));
    free(text);
}

static void
test_usage_of_empty_agent(void **state)
{
    char *text = usage_text(&empty_agent);
    const char *header = "Parameters (as OCF_RESKEY_<name>):\n";
    const char *at;

    (void) state;
    assert_starts_with(text, "usage: empty {");
    at = assert_after(text, text, "usage}\n\ns\n\n");
    at = assert_after(text, at, header);
    assert_string_equal(at, ""); /* no parameter lines */
    free(text);
}

static int
cleanup_libxml(void **state)
{
    (void) state;
    xmlCleanupParser();
    return 0;
}

#define WITH(test, setup) cmocka_unit_test_setup_teardown(test, setup, teardown)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        WITH(test_metadata_length_matches_text, setup_agent),
        cmocka_unit_test(test_metadata_length_is_optional),
        WITH(test_metadata_doctype_names_ra_api_dtd, setup_agent),
        WITH(test_metadata_starts_with_xml_declaration, setup_agent),
        WITH(test_metadata_root_names_agent_and_version, setup_agent),
        WITH(test_metadata_ocf_version_is_1_1, setup_agent),
        WITH(test_metadata_agent_descriptions, setup_agent),
        WITH(test_metadata_child_order_follows_dtd, setup_agent),
        WITH(test_metadata_parameters_in_table_order, setup_agent),
        WITH(test_metadata_required_and_unique_flags, setup_agent),
        WITH(test_metadata_unique_group_only_where_set, setup_agent),
        WITH(test_metadata_reloadable_only_where_set, setup_agent),
        WITH(test_metadata_parameter_descriptions, setup_agent),
        WITH(test_metadata_content_types, setup_agent),
        WITH(test_metadata_defaults_only_where_set, setup_agent),
        WITH(test_metadata_select_options_in_order, setup_agent),
        WITH(test_metadata_actions_in_table_order, setup_agent),
        WITH(test_metadata_action_timeouts_in_seconds, setup_agent),
        WITH(test_metadata_interval_only_on_recurring_actions, setup_agent),
        WITH(test_metadata_depth_only_with_an_interval, setup_agent),
        WITH(test_metadata_role_only_where_set, setup_agent),
        WITH(test_metadata_escapes_special_characters, setup_nasty),
        WITH(test_metadata_without_parameters_or_actions, setup_empty),
        cmocka_unit_test(test_usage_lists_actions_then_usage),
        cmocka_unit_test(test_usage_has_shortdesc_before_parameters),
        cmocka_unit_test(test_usage_describes_each_parameter_in_order),
        cmocka_unit_test(test_usage_lists_options_only_for_select),
        cmocka_unit_test(test_usage_of_empty_agent),
    };

    return cmocka_run_group_tests(tests, NULL, cleanup_libxml);
}
