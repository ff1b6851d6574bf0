/* vcha - libxml2, opened on demand (see vcha/xml.h for why). */
#include <config.h>

#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vcha/xml.h>

struct vcha_xml vcha_xml;

#define XML_SYM(name)                                                          \
    ((*(void **) &vcha_xml.name = dlsym(vcha_xml.handle, "xml" #name)) != NULL)

void
vcha_xml_close(void)
{
    if (vcha_xml.handle != NULL) {
        dlclose(vcha_xml.handle);
    }
    memset(&vcha_xml, 0, sizeof(vcha_xml));
}

int
vcha_xml_open(void)
{
    vcha_xml.handle = dlopen(VCHA_LIBXML_SONAME, RTLD_NOW | RTLD_LOCAL);
    if (vcha_xml.handle == NULL) {
        return -ENOENT;
    }
    if (XML_SYM(NewDoc) && XML_SYM(FreeDoc) && XML_SYM(CreateIntSubset) &&
        XML_SYM(NewNode) && XML_SYM(DocSetRootElement) && XML_SYM(NewProp) &&
        XML_SYM(NewChild) && XML_SYM(NewTextChild) && XML_SYM(DocFormatDump)) {
        return 0;
    }
    vcha_xml_close();
    return -ENOENT;
}

int
vcha_xml_dump(xmlDocPtr doc, char **out, size_t *len)
{
    size_t size = 0;
    FILE *f = open_memstream(out, &size);
    int rc = 0;

    if (f == NULL) {
        *out = NULL;
        return -ENOMEM;
    }
    if (vcha_xml.DocFormatDump(f, doc, 1) < 0) {
        rc = -EIO;
    }
    if (fclose(f) != 0 && rc == 0) {
        rc = -ENOMEM;
    }
    if (rc < 0) {
        free(*out);
        *out = NULL;
    } else if (len != NULL) {
        *len = size;
    }
    return rc;
}

int
vcha_xml_build(xmlDocPtr (*build)(const void *arg), const void *arg, char **out,
               size_t *len)
{
    xmlDocPtr doc;
    int rc;

    *out = NULL;
    if (vcha_xml_open() < 0) {
        return -ENOENT;
    }
    doc = build(arg);
    rc = doc != NULL ? vcha_xml_dump(doc, out, len) : -ENOMEM;
    if (doc != NULL) {
        vcha_xml.FreeDoc(doc);
    }
    vcha_xml_close();
    return rc;
}

void
vcha_xml_prop(xmlNodePtr node, const char *name, const char *value)
{
    if (value != NULL) {
        vcha_xml.NewProp(node, BAD_CAST name, BAD_CAST value);
    }
}
