/* vcha - libvirt sessions and domains. */
#include <config.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>

#include <vcha/text.h>
#include <vcha/virt.h>

#define UUID_HEX_DIGITS 32

/* What libvirt's authentication questions are answered with. */
struct credentials {
    const char *username;
    const char *password;
};

static void
ignore_error(void *data, virErrorPtr err)
{
    (void) data;
    (void) err;
}

/* Answer libvirt's credential questions; one without an answer fails. */
static int
auth_cb(virConnectCredentialPtr cred, unsigned int ncred, void *data)
{
    const struct credentials *c = data;

    for (unsigned i = 0; i < ncred; i++) {
        const char *answer = NULL;

        if (cred[i].type == VIR_CRED_AUTHNAME ||
            cred[i].type == VIR_CRED_ECHOPROMPT) {
            answer = c->username;
        } else if (cred[i].type == VIR_CRED_PASSPHRASE ||
                   cred[i].type == VIR_CRED_NOECHOPROMPT) {
            answer = c->password;
        }
        if (answer == NULL || (cred[i].result = strdup(answer)) == NULL) {
            return -1; /* never prompt: fail the authentication */
        }
        cred[i].resultlen = (unsigned) strlen(answer);
    }
    return 0;
}

char *
vcha_virt_uri(const char *uri, const char *identity_file)
{
    const char *scheme_end = strstr(uri, "://");
    char *out = NULL, *value = NULL;

    if (identity_file == NULL || scheme_end == NULL ||
        memmem(uri, (size_t) (scheme_end - uri), "ssh", 3) == NULL) {
        return strdup(uri);
    }
    value = vcha_pct_encode(identity_file, VCHA_PCT_URI);
    if (value == NULL || asprintf(&out, "%s%ckeyfile=%s", uri,
                                  strchr(uri, '?') ? '&' : '?', value) < 0) {
        out = NULL;
    }
    free(value);
    return out;
}

int
vcha_virt_open(const char *uri, const char *identity_file, const char *username,
               const char *password, virConnectPtr *conn, char *why,
               size_t whylen)
{
    int credtypes[] = {VIR_CRED_AUTHNAME, VIR_CRED_ECHOPROMPT,
                       VIR_CRED_PASSPHRASE, VIR_CRED_NOECHOPROMPT};
    struct credentials creds = {username, password};
    virConnectAuth auth = {credtypes, 4, auth_cb, &creds};
    char *full = NULL;
    char error[512];

    *conn = NULL;
    virSetErrorFunc(NULL, ignore_error);
    full = vcha_virt_uri(uri, identity_file);
    if (full == NULL) {
        snprintf(why, whylen, "out of memory");
        return -ENOMEM;
    }
    *conn = virConnectOpenAuth(full, &auth, 0);
    free(full);
    if (*conn == NULL) {
        snprintf(why, whylen, "cannot connect to %s: %s", uri,
                 vcha_virt_last_error(error, sizeof(error)));
        return -EIO;
    }
    return 0;
}

void
vcha_virt_close(virConnectPtr conn)
{
    if (conn != NULL) {
        virConnectClose(conn);
    }
}

const char *
vcha_virt_last_error(char *buf, size_t len)
{
    const char *msg = virGetLastErrorMessage();

    snprintf(buf, len, "%s", msg != NULL ? msg : "unknown libvirt error");
    return buf;
}

int
vcha_virt_last_error_code(void)
{
    virErrorPtr err = virGetLastError();

    return err != NULL ? err->code : VIR_ERR_OK;
}

bool
vcha_virt_is_uuid(const char *text)
{
    size_t digits = strspn(text, "0123456789abcdefABCDEF-");

    if (text[digits] != '\0') {
        return false;
    }
    for (const char *p = text; *p != '\0'; p++) {
        digits -= *p == '-';
    }
    return digits == UUID_HEX_DIGITS;
}

/* -ENOENT for libvirt's "no such domain", else -EIO; its message in @p why */
static int
lookup_failed(char *why, size_t whylen)
{
    int code = vcha_virt_last_error_code();

    if (why != NULL) {
        vcha_virt_last_error(why, whylen);
    }
    return code == VIR_ERR_NO_DOMAIN ? -ENOENT : -EIO;
}

int
vcha_virt_domain_lookup(virConnectPtr conn, const char *domain,
                        virDomainPtr *dom, char *why, size_t whylen)
{
    *dom = NULL;
    if (vcha_virt_is_uuid(domain)) {
        *dom = virDomainLookupByUUIDString(conn, domain);
        if (*dom != NULL) {
            return 0;
        }
        if (vcha_virt_last_error_code() != VIR_ERR_NO_DOMAIN) {
            return lookup_failed(why, whylen);
        }
    }
    *dom = virDomainLookupByName(conn, domain);
    return *dom != NULL ? 0 : lookup_failed(why, whylen);
}

int
vcha_virt_domain_state(virDomainPtr dom, char *why, size_t whylen)
{
    int state = 0, reason = 0;

    if (virDomainGetState(dom, &state, &reason, 0) == 0) {
        return state;
    }
    if (vcha_virt_last_error_code() == VIR_ERR_NO_DOMAIN) {
        return VIR_DOMAIN_SHUTOFF;
    }
    if (why != NULL) {
        vcha_virt_last_error(why, whylen);
    }
    return -EIO;
}

int
vcha_virt_domain_is_off(virDomainPtr dom, char *why, size_t whylen)
{
    int state = vcha_virt_domain_state(dom, why, whylen);

    if (state < 0) {
        return state;
    }
    return state == VIR_DOMAIN_SHUTOFF || state == VIR_DOMAIN_CRASHED;
}

/* ------------------------------------------------------------ without libvirt
 */

int
vcha_virt_xml_name(const char *xml, size_t len, char *name, size_t nlen,
                   char *why, size_t whylen)
{
    xmlDocPtr doc = xmlReadMemory(xml, (int) len, "domain.xml", NULL,
                                  XML_PARSE_NONET | XML_PARSE_NOERROR |
                                      XML_PARSE_NOWARNING);
    xmlNodePtr root = doc != NULL ? xmlDocGetRootElement(doc) : NULL;
    xmlChar *text = NULL;
    int rc = -EINVAL;

    if (root == NULL || strcmp((const char *) root->name, "domain") != 0) {
        snprintf(why, whylen, "not a libvirt domain document");
        goto done;
    }
    for (xmlNodePtr n = root->children; n != NULL && text == NULL;
         n = n->next) {
        if (n->type == XML_ELEMENT_NODE &&
            strcmp((const char *) n->name, "name") == 0) {
            text = xmlNodeGetContent(n);
        }
    }
    if (text == NULL || text[0] == '\0') {
        snprintf(why, whylen, "the domain has no <name>");
    } else if (snprintf(name, nlen, "%s", (const char *) text) >= (int) nlen) {
        snprintf(why, whylen, "the domain's <name> is too long");
        rc = -ENAMETOOLONG;
    } else {
        rc = 0;
    }

done:
    xmlFree(text);
    xmlFreeDoc(doc);
    return rc;
}
