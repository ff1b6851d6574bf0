/* vcha - meta-data XML (libxml2) and usage text from the agent tables. */
#include <config.h>

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vcha/metadata.h>
#include <vcha/xml.h>

#define OCF_VERSION "1.1"

/* OCF content type for a parameter type: durations travel as strings. */
static const char *
content_type(enum vcha_param_type t)
{
    return t == VCHA_PT_DURATION ? "string" : vcha_param_type_name(t);
}

static xmlNodePtr
add_desc(xmlNodePtr parent, const char *tag, const char *text)
{
    xmlNodePtr n = vcha_xml.NewTextChild(parent, NULL, BAD_CAST tag,
                                         BAD_CAST(text ? text : ""));

    vcha_xml.NewProp(n, BAD_CAST "lang", BAD_CAST "en");
    return n;
}

static void
add_parameter(xmlNodePtr params, const struct vcha_param_def *p)
{
    xmlNodePtr n = vcha_xml.NewChild(params, NULL, BAD_CAST "parameter", NULL);
    xmlNodePtr c;

    vcha_xml.NewProp(n, BAD_CAST "name", BAD_CAST p->name);
    vcha_xml.NewProp(n, BAD_CAST "unique", BAD_CAST(p->unique ? "1" : "0"));
    vcha_xml.NewProp(n, BAD_CAST "required", BAD_CAST(p->required ? "1" : "0"));
    if (p->unique_group != NULL) {
        vcha_xml.NewProp(n, BAD_CAST "unique-group", BAD_CAST p->unique_group);
    }
    if (p->reloadable) {
        vcha_xml.NewProp(n, BAD_CAST "reloadable", BAD_CAST "1");
    }
    add_desc(n, "longdesc", p->longdesc);
    add_desc(n, "shortdesc", p->shortdesc);
    c = vcha_xml.NewChild(n, NULL, BAD_CAST "content", NULL);
    vcha_xml.NewProp(c, BAD_CAST "type", BAD_CAST content_type(p->type));
    if (p->dflt != NULL) {
        vcha_xml.NewProp(c, BAD_CAST "default", BAD_CAST p->dflt);
    }
    for (size_t i = 0; p->type == VCHA_PT_SELECT && p->options && p->options[i];
         i++) {
        xmlNodePtr o = vcha_xml.NewChild(c, NULL, BAD_CAST "option", NULL);

        vcha_xml.NewProp(o, BAD_CAST "value", BAD_CAST p->options[i]);
    }
}

static void
add_action(xmlNodePtr actions, const struct vcha_action_def *act)
{
    xmlNodePtr n = vcha_xml.NewChild(actions, NULL, BAD_CAST "action", NULL);
    char buf[32];

    vcha_xml.NewProp(n, BAD_CAST "name", BAD_CAST act->name);
    snprintf(buf, sizeof(buf), "%us", act->timeout_s);
    vcha_xml.NewProp(n, BAD_CAST "timeout", BAD_CAST buf);
    if (act->interval_s > 0) {
        snprintf(buf, sizeof(buf), "%us", act->interval_s);
        vcha_xml.NewProp(n, BAD_CAST "interval", BAD_CAST buf);
    }
    if (act->depth >= 0 && act->interval_s > 0) {
        snprintf(buf, sizeof(buf), "%d", act->depth);
        vcha_xml.NewProp(n, BAD_CAST "depth", BAD_CAST buf);
    }
    if (act->role != NULL) {
        vcha_xml.NewProp(n, BAD_CAST "role", BAD_CAST act->role);
    }
}

/* Build the document; NULL when out of memory. */
static xmlDocPtr
metadata_doc(const struct vcha_metadata *def)
{
    xmlDocPtr doc = vcha_xml.NewDoc(BAD_CAST "1.0");
    xmlNodePtr root, params, actions;

    if (doc == NULL) {
        return NULL;
    }
    vcha_xml.CreateIntSubset(doc, BAD_CAST "resource-agent", NULL,
                             BAD_CAST "ra-api-1.dtd");
    root = vcha_xml.NewNode(NULL, BAD_CAST "resource-agent");
    vcha_xml.DocSetRootElement(doc, root);
    vcha_xml.NewProp(root, BAD_CAST "name", BAD_CAST def->name);
    vcha_xml.NewProp(root, BAD_CAST "version", BAD_CAST def->version);
    vcha_xml.NewTextChild(root, NULL, BAD_CAST "version", BAD_CAST OCF_VERSION);
    add_desc(root, "longdesc", def->longdesc);
    add_desc(root, "shortdesc", def->shortdesc);
    params = vcha_xml.NewChild(root, NULL, BAD_CAST "parameters", NULL);
    for (size_t i = 0; i < def->n_params; i++) {
        add_parameter(params, &def->params[i]);
    }
    actions = vcha_xml.NewChild(root, NULL, BAD_CAST "actions", NULL);
    for (size_t i = 0; i < def->n_actions; i++) {
        add_action(actions, &def->actions[i]);
    }
    return doc;
}

/* vcha_xml_build()'s callback. */
static xmlDocPtr
metadata_build(const void *md)
{
    return metadata_doc(md);
}

int
vcha_metadata_xml(const struct vcha_metadata *md, char **xml, size_t *len)
{
    return vcha_xml_build(metadata_build, md, xml, len);
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

/* Whether action row @p i repeats an earlier row's name (a role's row). */
static bool
listed_before(const struct vcha_metadata *def, size_t i)
{
    for (size_t j = 0; j < i; j++) {
        if (strcmp(def->actions[j].name, def->actions[i].name) == 0) {
            return true;
        }
    }
    return false;
}

void
vcha_usage_print(const struct vcha_metadata *def, FILE *out)
{
    fprintf(out, "usage: %s {", def->name);
    for (size_t i = 0; i < def->n_actions; i++) {
        if (!listed_before(def, i)) {
            fprintf(out, "%s|", def->actions[i].name);
        }
    }
    fprintf(out, "usage}\n\n%s\n\nParameters (as OCF_RESKEY_<name>):\n",
            def->shortdesc);
    for (size_t i = 0; i < def->n_params; i++) {
        usage_param(&def->params[i], out);
    }
}
