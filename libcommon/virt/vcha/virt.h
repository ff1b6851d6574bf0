/*
 * vcha - libvirt sessions and domains, as the fence plugin and the agents
 * that drive libvirt domains use them: a connection opened without ever
 * prompting, a domain found by UUID or name, its state read so that a
 * domain that vanished counts as off.
 *
 * libvirt keeps its last error per thread and nearly every libvirt call
 * (even virDomainGetName) resets it: a caller that wants the message takes
 * it with vcha_virt_last_error() right after the call that failed.
 */
#ifndef VCHA_VIRT_H
#define VCHA_VIRT_H

#include <stdbool.h>
#include <stddef.h>

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

/**
 * The URI to connect to: @p uri, with keyfile=@p identity_file added when
 * its transport is ssh (libssh, libssh2) and @p identity_file is not NULL.
 * The file name is percent-encoded (libvirt decodes it): a raw '&' or ';'
 * would end the value and could add a parameter such as command= (another
 * program run instead of ssh); '#', '%' or a space would break the URI.
 * Returns a new string to free(), or NULL when out of memory.
 */
char *vcha_virt_uri(const char *uri, const char *identity_file);

/**
 * Open a connection to @p uri (see vcha_virt_uri() for @p identity_file).
 * libvirt's questions for a user name are answered with @p username and
 * those for a password with @p password (either may be NULL); a question
 * with no answer fails the authentication: nothing ever prompts.  The
 * password is used during the call only and not kept.
 *
 * libvirt's default error handler, which prints every error to stderr, is
 * silenced for the whole process.
 *
 * Returns 0 with the connection in @p conn, -ENOMEM, or -EIO when libvirt
 * refused, with "cannot connect to URI: libvirt's message" in @p why.
 */
int vcha_virt_open(const char *uri, const char *identity_file,
                   const char *username, const char *password,
                   virConnectPtr *conn, char *why, size_t whylen);

/** Close @p conn; NULL is fine. */
void vcha_virt_close(virConnectPtr conn);

/**
 * Copy libvirt's last error message into @p buf ("unknown libvirt error"
 * when there is none).  Returns @p buf.
 */
const char *vcha_virt_last_error(char *buf, size_t len);

/** libvirt's last error code (VIR_ERR_*), VIR_ERR_OK when there is none. */
int vcha_virt_last_error_code(void);

/**
 * True when @p text reads as a UUID the way libvirt reads one: 32 hex
 * digits in either case, with any dashes between them.
 */
bool vcha_virt_is_uuid(const char *text);

/**
 * Find domain @p domain (a UUID or a name) at @p conn: by UUID when it
 * reads as one, else by name.  Only libvirt's definite "no such UUID" goes
 * on to the name (a domain may be named like a UUID): after any other error
 * the name lookup's "no such domain" would count a domain that may run as
 * missing.
 *
 * Returns 0 with the domain in @p dom (virDomainFree() it), -ENOENT when
 * libvirt said that no such domain exists, or -EIO on any other error;
 * libvirt's message is in @p why (may be NULL) and its error stays set.
 */
int vcha_virt_domain_lookup(virConnectPtr conn, const char *domain,
                            virDomainPtr *dom, char *why, size_t whylen);

/**
 * The state of @p dom (VIR_DOMAIN_*), or -EIO with libvirt's message in
 * @p why (may be NULL).  A domain that vanished (a transient one that was
 * destroyed) is VIR_DOMAIN_SHUTOFF.
 */
int vcha_virt_domain_state(virDomainPtr dom, char *why, size_t whylen);

/**
 * 1 when @p dom is off (shut off, vanished, or crashed: a crashed guest
 * runs no code), 0 when it is on, or -EIO as vcha_virt_domain_state().
 */
int vcha_virt_domain_is_off(virDomainPtr dom, char *why, size_t whylen);

/**
 * The domain name a libvirt domain XML document gives (its /domain/name),
 * into @p name: read without libvirt, so that a stop knows which domain
 * to look for while libvirtd is down.  Returns 0, -EINVAL when @p xml is
 * not such a document or names no domain (@p why says which), or
 * -ENAMETOOLONG.
 */
int vcha_virt_xml_name(const char *xml, size_t len, char *name, size_t nlen,
                       char *why, size_t whylen);

#endif
