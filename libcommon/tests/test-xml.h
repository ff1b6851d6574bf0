/*
 * vcha unit tests - XPath assertions on a parsed XML document (meta-data).
 * Include after <cmocka.h> and <libxml/xpath.h>.
 */
#ifndef VCHA_TEST_XML_H
#define VCHA_TEST_XML_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static inline xmlXPathObjectPtr
test_xpath(xmlDocPtr doc, const char *expr)
{
    xmlXPathContextPtr ctx = xmlXPathNewContext(doc);
    xmlXPathObjectPtr obj;

    assert_non_null(ctx);
    obj = xmlXPathEvalExpression(BAD_CAST expr, ctx);
    xmlXPathFreeContext(ctx);
    if (obj == NULL) {
        fail_msg("bad XPath expression %s", expr);
    }
    return obj;
}

/* The string value of @p expr in @p doc must be @p expect. */
static inline void
assert_xpath_str(xmlDocPtr doc, const char *expr, const char *expect)
{
    char *wrapped = NULL;
    xmlXPathObjectPtr obj;

    assert_true(asprintf(&wrapped, "string(%s)", expr) > 0);
    obj = test_xpath(doc, wrapped);
    free(wrapped);
    if (strcmp((const char *) obj->stringval, expect) != 0) {
        fail_msg("%s is '%s', not '%s'", expr, obj->stringval, expect);
    }
    xmlXPathFreeObject(obj);
}

/* @p expr must select @p expect nodes of @p doc. */
static inline void
assert_xpath_count(xmlDocPtr doc, const char *expr, int expect)
{
    char *wrapped = NULL;
    xmlXPathObjectPtr obj;

    assert_true(asprintf(&wrapped, "count(%s)", expr) > 0);
    obj = test_xpath(doc, wrapped);
    free(wrapped);
    if ((int) obj->floatval != expect) {
        fail_msg("%s selects %d nodes, not %d", expr, (int) obj->floatval,
                 expect);
    }
    xmlXPathFreeObject(obj);
}

#define PARAM(name) "/resource-agent/parameters/parameter[@name='" name "']"
#define ACTION "/resource-agent/actions/action"

#endif
