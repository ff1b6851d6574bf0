/* vcha - meta-data XML (libxml2) and usage text from the agent tables. */
#include <config.h>

#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

#include <vcha/metadata.h>

#define OCF_VERSION "1.1"

/*
 * Loading libxml2 (and with it ICU and libstdc++) costs about 1.5 ms at
 * every start of an agent, and only meta-data needs it, while monitors run
 * every few seconds: it is opened here, on demand, rather than linked.
 */
static struct {
    void *handle;
    __typeof__(xmlNewDoc) *NewDoc;
    __typeof__(xmlFreeDoc) *FreeDoc;
    __typeof__(xmlCreateIntSubset) *CreateIntSubset;
    __typeof__(xmlNewNode) *NewNode;
    __typeof__(xmlDocSetRootElement) *DocSetRootElement;
    __typeof__(xmlNewProp) *NewProp;
    __typeof__(xmlNewChild) *NewChild;
    __typeof__(xmlNewTextChild) *NewTextChild;
    __typeof__(xmlDocFormatDump) *DocFormatDump;
} X;

static void
xml_close(void)
{
    if (X.handle != NULL) {
        dlclose(X.handle);
    }
    memset(&X, 0, sizeof(X));
}

#define XML_SYM(name)                                                          \
    ((*(void **) &X.name = dlsym(X.handle, "xml" #name)) != NULL)

static int
xml_open(void)
{
    X.handle = dlopen(VCHA_LIBXML_SONAME, RTLD_NOW | RTLD_LOCAL);
    if (X.handle == NULL) {
        return -ENOENT;
    }
    if (XML_SYM(NewDoc) && XML_SYM(FreeDoc) && XML_SYM(CreateIntSubset) &&
        XML_SYM(NewNode) && XML_SYM(DocSetRootElement) && XML_SYM(NewProp) &&
        XML_SYM(NewChild) && XML_SYM(NewTextChild) && XML_SYM(DocFormatDump)) {
        return 0;
    }
    xml_close();
    return -ENOENT;
}

/* OCF content type for a parameter type: durations travel as strings. */
static const char *
content_type(enum vcha_param_type t)
{
    switch (t) {
    case VCHA_PT_INTEGER:
        return "integer";
    case VCHA_PT_BOOLEAN:
        return "boolean";
    case VCHA_PT_SELECT:
        return "select";
    default:
        return "string";
    }
}

static xmlNodePtr
add_desc(xmlNodePtr parent, const char *tag, const char *text)
{
    xmlNodePtr n =
        X.NewTextChild(parent, NULL, BAD_CAST tag, BAD_CAST(text ? text : ""));

    X.NewProp(n, BAD_CAST "lang", BAD_CAST "en");
    return n;
}

static void
add_parameter(xmlNodePtr params, const struct vcha_param_def *p)
{
    xmlNodePtr n = X.NewChild(params, NULL, BAD_CAST "parameter", NULL);
    xmlNodePtr c;

    X.NewProp(n, BAD_CAST "name", BAD_CAST p->name);
    X.NewProp(n, BAD_CAST "unique", BAD_CAST(p->unique ? "1" : "0"));
    X.NewProp(n, BAD_CAST "required", BAD_CAST(p->required ? "1" : "0"));
    if (p->unique_group != NULL) {
        X.NewProp(n, BAD_CAST "unique-group", BAD_CAST p->unique_group);
    }
    if (p->reloadable) {
        X.NewProp(n, BAD_CAST "reloadable", BAD_CAST "1");
    }
    add_desc(n, "longdesc", p->longdesc);
    add_desc(n, "shortdesc", p->shortdesc);
    c = X.NewChild(n, NULL, BAD_CAST "content", NULL);
    X.NewProp(c, BAD_CAST "type", BAD_CAST content_type(p->type));
    if (p->dflt != NULL) {
        X.NewProp(c, BAD_CAST "default", BAD_CAST p->dflt);
    }
    for (size_t i = 0; p->type == VCHA_PT_SELECT && p->options && p->options[i];
         i++) {
        xmlNodePtr o = X.NewChild(c, NULL, BAD_CAST "option", NULL);

        X.NewProp(o, BAD_CAST "value", BAD_CAST p->options[i]);
    }
}

static void
add_action(xmlNodePtr actions, const struct vcha_action_def *act)
{
    xmlNodePtr n = X.NewChild(actions, NULL, BAD_CAST "action", NULL);
    char buf[32];

    X.NewProp(n, BAD_CAST "name", BAD_CAST act->name);
    snprintf(buf, sizeof(buf), "%us", act->timeout_s);
    X.NewProp(n, BAD_CAST "timeout", BAD_CAST buf);
    if (act->interval_s > 0) {
        snprintf(buf, sizeof(buf), "%us", act->interval_s);
        X.NewProp(n, BAD_CAST "interval", BAD_CAST buf);
    }
    if (act->depth >= 0 && act->interval_s > 0) {
        snprintf(buf, sizeof(buf), "%d", act->depth);
        X.NewProp(n, BAD_CAST "depth", BAD_CAST buf);
    }
    if (act->role != NULL) {
        X.NewProp(n, BAD_CAST "role", BAD_CAST act->role);
    }
}

/* Build the document; NULL when out of memory. */
static xmlDocPtr
metadata_doc(const struct vcha_agent_def *def)
{
    xmlDocPtr doc = X.NewDoc(BAD_CAST "1.0");
    xmlNodePtr root, params, actions;

    if (doc == NULL) {
        return NULL;
    }
    X.CreateIntSubset(doc, BAD_CAST "resource-agent", NULL,
                      BAD_CAST "ra-api-1.dtd");
    root = X.NewNode(NULL, BAD_CAST "resource-agent");
    X.DocSetRootElement(doc, root);
    X.NewProp(root, BAD_CAST "name", BAD_CAST def->name);
    X.NewProp(root, BAD_CAST "version", BAD_CAST def->version);
    X.NewTextChild(root, NULL, BAD_CAST "version", BAD_CAST OCF_VERSION);
    add_desc(root, "longdesc", def->longdesc);
    add_desc(root, "shortdesc", def->shortdesc);
    params = X.NewChild(root, NULL, BAD_CAST "parameters", NULL);
    for (size_t i = 0; i < def->n_params; i++) {
        add_parameter(params, &def->params[i]);
    }
    actions = X.NewChild(root, NULL, BAD_CAST "actions", NULL);
    for (size_t i = 0; i < def->n_actions; i++) {
        add_action(actions, &def->actions[i]);
    }
    return doc;
}

int
vcha_metadata_xml(const struct vcha_agent_def *def, char **xml, size_t *len)
{
    xmlDocPtr doc = NULL;
    size_t size = 0;
    FILE *out = NULL;
    int rc = 0;

    *xml = NULL;
    if (xml_open() < 0) {
        return -ENOENT;
    }
    doc = metadata_doc(def);
    out = open_memstream(xml, &size);
    if (doc == NULL || out == NULL) {
        rc = -ENOMEM;
        goto done;
    }
    if (X.DocFormatDump(out, doc, 1) < 0) {
        rc = -EIO;
    }

done:
    if (out != NULL && fclose(out) != 0 && rc == 0) {
        rc = -ENOMEM;
    }
    if (doc != NULL) {
        X.FreeDoc(doc);
    }
    xml_close();
    if (rc < 0) {
        free(*xml);
        *xml = NULL;
    } else if (len != NULL) {
        *len = size;
    }
    return rc;
}

static void
usage_param(const struct vcha_param_def *p, FILE *out)
{
    fprintf(out, "  %s (%s%s%s", p->name, vcha_param_type_name(p->type),
            p->required ? ", required" : "", p->unique ? ", unique" : "");
    if (p->dflt != NULL) {
        fprintf(out, ", default %s", p->dflt);
    }
    fprintf(out, ")\n      %s\n", p->shortdesc);
    if (p->type == VCHA_PT_SELECT) {
        fprintf(out, "      one of:");
        for (size_t i = 0; p->options && p->options[i]; i++) {
            fprintf(out, " %s", p->options[i]);
        }
        fprintf(out, "\n");
    }
}

void
vcha_usage_print(const struct vcha_agent_def *def, FILE *out)
{
    fprintf(out, "usage: %s {", def->name);
    for (size_t i = 0; i < def->n_actions; i++) {
        fprintf(out, "%s|", def->actions[i].name);
    }
    fprintf(out, "usage}\n\n%s\n\nParameters (as OCF_RESKEY_<name>):\n",
            def->shortdesc);
    for (size_t i = 0; i < def->n_params; i++) {
        usage_param(&def->params[i], out);
    }
}
