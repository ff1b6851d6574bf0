/*
 * vcha - libxml2 opened on demand.
 *
 * Loading libxml2 (and with it ICU and libstdc++) costs about 1.5 ms at every
 * start of a program, and only meta-data needs it, while monitors run every
 * few seconds: agents open it when they print meta-data rather than link it.
 */
#ifndef VCHA_XML_H
#define VCHA_XML_H

#include <stddef.h>

#include <libxml/tree.h>

/** The libxml2 functions vcha uses, valid between open and close. */
struct vcha_xml {
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
};

/** Filled by vcha_xml_open(). */
extern struct vcha_xml vcha_xml;

/** Load libxml2.  Returns 0, or -ENOENT when it cannot be loaded. */
int vcha_xml_open(void);

/** Unload libxml2; safe when it was not loaded. */
void vcha_xml_close(void);

/**
 * Write @p doc, indented, into a new NUL-terminated buffer (free()).
 * Returns 0 or a negative errno.
 */
int vcha_xml_dump(xmlDocPtr doc, char **out, size_t *len);

/**
 * Load libxml2, build a document with @p build(@p arg) (NULL: out of
 * memory), write it as vcha_xml_dump() does, free it and unload libxml2.
 * Returns 0, -ENOENT when libxml2 cannot be loaded, or a negative errno.
 */
int vcha_xml_build(xmlDocPtr (*build)(const void *arg), const void *arg,
                   char **out, size_t *len);

/** Add attribute @p name="@p value" to @p node (a NULL value is skipped). */
void vcha_xml_prop(xmlNodePtr node, const char *name, const char *value);

#endif
