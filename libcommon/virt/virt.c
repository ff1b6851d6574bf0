/* vcha - libvirt sessions and domains. */
#include <config.h>

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>

#include <vcha/file.h>
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

/*
 * The name in QEMU's -name argument @p arg ("guest=NAME,debug-threads=on"
 * or "NAME,..."), its ",," unescaped, equals @p name.
 */
static bool
qemu_name_is(const char *arg, const char *name)
{
    if (strncmp(arg, "guest=", 6) == 0) {
        arg += 6;
    }
    for (; *arg != '\0' && !(arg[0] == ',' && arg[1] != ','); arg++, name++) {
        if (arg[0] == ',') {
            arg++; /* ",," is one comma */
        }
        if (*arg != *name) {
            return false;
        }
    }
    return *name == '\0';
}

/*
 * Whether the NUL-separated argv @p args runs domain @p name: a QEMU's
 * "-name guest=NAME,..." (by whatever name its program goes: a kvm
 * symlink, a wrapper), the older "-name NAME" of a program called qemu-*,
 * or libvirt_lxc's "--name NAME".
 */
static bool
argv_runs(const char *args, size_t len, const char *name)
{
    const char *end = args + len, *prog = strrchr(args, '/');
    bool qemu, lxc;

    prog = prog != NULL ? prog + 1 : args;
    qemu = strncmp(prog, "qemu", 4) == 0;
    lxc = strcmp(prog, "libvirt_lxc") == 0;
    for (const char *p = args; p < end; p += strlen(p) + 1) {
        const char *next = p + strlen(p) + 1;

        if (next >= end) {
            break;
        }
        if (strcmp(p, "-name") == 0 &&
            (strncmp(next, "guest=", 6) == 0 || qemu) &&
            qemu_name_is(next, name)) {
            return true;
        }
        if (lxc && (strcmp(p, "--name") == 0 || strcmp(p, "-n") == 0) &&
            strcmp(next, name) == 0) {
            return true;
        }
    }
    return false;
}

/*
 * Whether process @p pid, whose cmdline reads empty, may be a hypervisor
 * all the same: its main thread has exited while others live on (a QEMU
 * whose threads are stuck in the kernel on a hung disk), named qemu* or
 * libvirt_lxc.  Kernel threads (one thread, no cmdline) are not.
 */
static bool
hidden_hypervisor(const char *pid)
{
    char path[sizeof("/proc//status") + 256], *status = NULL;
    size_t len = 0;
    bool hidden = false;

    snprintf(path, sizeof(path), "/proc/%s/status", pid);
    if (vcha_file_read(path, &status, &len, 1 << 16) == 0 && len > 0) {
        const char *threads = strstr(status, "\nThreads:");
        const char *nm = strncmp(status, "Name:", 5) == 0 ? status + 5 : "";

        nm += strspn(nm, " \t");
        hidden = threads != NULL && atoi(threads + 9) > 1 &&
                 (strncmp(nm, "qemu", 4) == 0 ||
                  strncmp(nm, "libvirt_lxc", 11) == 0);
    }
    free(status);
    return hidden;
}

int
vcha_virt_domain_process(const char *name)
{
    DIR *proc = opendir("/proc");
    struct dirent *d;
    int found = 0;

    if (proc == NULL) {
        return -errno;
    }
    for (errno = 0; found == 0 && (d = readdir(proc)) != NULL; errno = 0) {
        char path[sizeof("/proc//cmdline") + sizeof(d->d_name)], *args = NULL;
        size_t len = 0;
        int rc;

        if (d->d_name[0] < '1' || d->d_name[0] > '9') {
            continue;
        }
        snprintf(path, sizeof(path), "/proc/%s/cmdline", d->d_name);
        rc = vcha_file_read(path, &args, &len, 1 << 20);
        if (rc == 0 && len > 0) {
            args[len - 1] = '\0';
            found = argv_runs(args, len, name) ? atoi(d->d_name) : 0;
        } else if (rc == 0 && hidden_hypervisor(d->d_name)) {
            found = -EBUSY; /* whose it is cannot be told */
        } else if (rc < 0 && rc != -ENOENT && rc != -ESRCH) {
            found = rc; /* an argv too long to read: it may be one */
        }
        free(args);
    }
    if (found == 0 && errno != 0) {
        found = -errno;
    }
    closedir(proc);
    return found;
}
