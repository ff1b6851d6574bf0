/* Unit tests for libcommon/runtime/xml.c: libxml2 opened on demand. */
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

#include <vcha/xml.h>

/* ------------------------------------------------------------ helpers */

static int
open_xml(void **state)
{
    (void) state;
    return vcha_xml_open();
}

static int
close_xml(void **state)
{
    (void) state;
    vcha_xml_close();
    return 0;
}

/* Every function pointer is set, or every one is NULL. */
static void
assert_symbols(bool loaded)
{
    void *const fns[] = {
        (void *) vcha_xml.NewDoc,
        (void *) vcha_xml.FreeDoc,
        (void *) vcha_xml.CreateIntSubset,
        (void *) vcha_xml.NewNode,
        (void *) vcha_xml.DocSetRootElement,
        (void *) vcha_xml.NewProp,
        (void *) vcha_xml.NewChild,
        (void *) vcha_xml.NewTextChild,
        (void *) vcha_xml.DocFormatDump,
    };

    for (size_t i = 0; i < sizeof(fns) / sizeof(fns[0]); i++) {
        if ((fns[i] != NULL) != loaded) {
            fail_msg("function %zu is %s", i, loaded ? "missing" : "left");
        }
    }
    assert_true((vcha_xml.handle != NULL) == loaded);
}

/* <agent name="t"> with one child and one text child. */
static xmlDocPtr
small_doc(void)
{
    xmlDocPtr doc = vcha_xml.NewDoc(BAD_CAST "1.0");
    xmlNodePtr root;

    assert_non_null(doc);
    root = vcha_xml.NewNode(NULL, BAD_CAST "agent");
    assert_non_null(root);
    vcha_xml.DocSetRootElement(doc, root);
    vcha_xml_prop(root, "name", "t");
    vcha_xml_prop(root, "skipped", NULL);
    vcha_xml_prop(root, "quote", "a\"b<c");
    vcha_xml.NewChild(root, NULL, BAD_CAST "child", NULL);
    vcha_xml.NewTextChild(root, NULL, BAD_CAST "text", BAD_CAST "a < b & c");
    return doc;
}

/* ------------------------------------------------------------ open, close */

static void
test_open_close_twice(void **state)
{
    (void) state;
    for (int i = 0; i < 2; i++) {
        assert_int_equal(vcha_xml_open(), 0);
        assert_symbols(true);
        vcha_xml_close();
        assert_symbols(false);
    }
}

static void
test_close_without_open(void **state)
{
    (void) state;
    vcha_xml_close();
    assert_symbols(false);
    vcha_xml_close();
    assert_symbols(false);
}

/* ------------------------------------------------------------ dump */

static void
test_dump_small_document(void **state)
{
    xmlDocPtr doc = small_doc();
    char *out = NULL;
    size_t len = 0;

    (void) state;
    assert_int_equal(vcha_xml_dump(doc, &out, &len), 0);
    assert_string_equal(out, "<?xml version=\"1.0\"?>\n"
                             "<agent name=\"t\" quote=\"a&quot;b&lt;c\">\n"
                             "  <child/>\n"
                             "  <text>a &lt; b &amp; c</text>\n"
                             "</agent>\n");
    assert_int_equal(len, strlen(out));
    free(out);
    vcha_xml.FreeDoc(doc);
}

static void
test_dump_length_is_optional(void **state)
{
    xmlDocPtr doc = small_doc();
    char *out = NULL;

    (void) state;
    assert_int_equal(vcha_xml_dump(doc, &out, NULL), 0);
    assert_non_null(out);
    free(out);
    vcha_xml.FreeDoc(doc);
}

static void
test_dump_with_doctype(void **state)
{
    xmlDocPtr doc = small_doc();
    char *out = NULL;

    (void) state;
    assert_non_null(vcha_xml.CreateIntSubset(doc, BAD_CAST "agent", NULL,
                                             BAD_CAST "ra-api-1.dtd"));
    assert_int_equal(vcha_xml_dump(doc, &out, NULL), 0);
    assert_non_null(strstr(out, "<?xml version=\"1.0\"?>\n<!DOCTYPE agent "
                                "SYSTEM \"ra-api-1.dtd\">\n<agent "));
    free(out);
    vcha_xml.FreeDoc(doc);
}

static void
test_dump_empty_document(void **state)
{
    xmlDocPtr doc = vcha_xml.NewDoc(BAD_CAST "1.0");
    char *out = NULL;
    size_t len = 99;

    (void) state;
    assert_int_equal(vcha_xml_dump(doc, &out, &len), 0);
    assert_string_equal(out, "<?xml version=\"1.0\"?>\n");
    assert_int_equal(len, strlen(out));
    free(out);
    vcha_xml.FreeDoc(doc);
}

static void
test_dump_failure_leaves_nothing(void **state)
{
    char *out = (char *) "untouched";
    size_t len = 7;

    (void) state;
    /* libxml2 refuses a NULL document */
    assert_int_equal(vcha_xml_dump(NULL, &out, &len), -EIO);
    assert_null(out);
    assert_int_equal(len, 7);
}

/* ------------------------------------------------------------ prop */

static void
test_prop_null_value_is_skipped(void **state)
{
    xmlDocPtr doc = vcha_xml.NewDoc(BAD_CAST "1.0");
    xmlNodePtr node;

    (void) state;
    node = vcha_xml.NewNode(NULL, BAD_CAST "n");
    assert_non_null(node);
    vcha_xml_prop(node, "gone", NULL);
    assert_null(node->properties);
    vcha_xml_prop(node, "empty", "");
    vcha_xml_prop(node, "kept", "v");
    assert_non_null(node->properties);
    assert_string_equal((const char *) node->properties->name, "empty");
    assert_non_null(node->properties->next);
    assert_string_equal((const char *) node->properties->next->name, "kept");
    assert_string_equal(
        (const char *) node->properties->next->children->content, "v");
    assert_null(node->properties->next->next);
    /* freed through a document: only vcha_xml's functions are used */
    vcha_xml.DocSetRootElement(doc, node);
    vcha_xml.FreeDoc(doc);
}

/* vcha_xml_build()'s callback: a root named after @p arg, or NULL. */
static xmlDocPtr
build_named(const void *arg)
{
    xmlDocPtr doc;

    if (arg == NULL) {
        return NULL; /* as when out of memory */
    }
    assert_non_null(vcha_xml.NewDoc); /* loaded while it builds */
    doc = vcha_xml.NewDoc(BAD_CAST "1.0");
    vcha_xml.DocSetRootElement(doc, vcha_xml.NewNode(NULL, BAD_CAST arg));
    return doc;
}

static void
test_build_loads_builds_dumps_and_unloads(void **state)
{
    char *out = NULL;
    size_t len = 0;

    (void) state;
    assert_int_equal(vcha_xml_build(build_named, "agent", &out, &len), 0);
    assert_non_null(strstr(out, "<agent/>"));
    assert_int_equal(len, strlen(out));
    assert_symbols(false); /* unloaded again */
    free(out);
}

static void
test_build_failure_leaves_nothing(void **state)
{
    char *out = (char *) "untouched";

    (void) state;
    assert_int_equal(vcha_xml_build(build_named, NULL, &out, NULL), -ENOMEM);
    assert_null(out);
    assert_symbols(false);
}

#define LOADED(test) cmocka_unit_test_setup_teardown(test, open_xml, close_xml)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_open_close_twice),
        cmocka_unit_test(test_close_without_open),
        LOADED(test_dump_small_document),
        LOADED(test_dump_length_is_optional),
        LOADED(test_dump_with_doctype),
        LOADED(test_dump_empty_document),
        LOADED(test_dump_failure_leaves_nothing),
        LOADED(test_prop_null_value_is_skipped),
        cmocka_unit_test(test_build_loads_builds_dumps_and_unloads),
        cmocka_unit_test(test_build_failure_leaves_nothing),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
