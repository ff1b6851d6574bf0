/*
 * vcha-receive - the receiving side of vcha's file sync on a standby: an
 * ssh forced command that lets a key push into one directory and nothing
 * else, the rsync daemon's pre-xfer and post-xfer hooks, and the state of
 * a destination's last batch; see vcha-receive(8).
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <vcha/clock.h>
#include <vcha/syncmark.h>

#ifndef VCHA_RSYNC
#define VCHA_RSYNC "/usr/bin/rsync"
#endif

#define EXIT_REFUSED 1 /* rsync's "syntax or usage error" */

/* --state */
#define EXIT_COMPLETE 0
#define EXIT_INCOMPLETE 1
#define EXIT_NEVER 2
#define EXIT_ERROR 3

/* far more than any command line a push sends */
#define MAX_COMMAND 8192
#define MAX_WORDS 256

static const char *prog = "vcha-receive";

/* ------------------------------------------------------------ options */

enum mode { MODE_NONE, MODE_SSH, MODE_PRE, MODE_POST, MODE_STATE };

struct receive {
    enum mode mode;
    const char *dest;  /* --dest, --state */
    const char *rsync; /* the rsync to run */
    long long lock_wait_ms;
    long long wait_ms; /* --state --wait */
};

/* ------------------------------------------------------------ messages */

static char refusal[1024];

static void refuse(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Remember why the command is refused (the first reason wins). */
static void
refuse(const char *fmt, ...)
{
    va_list ap;

    if (refusal[0] != '\0') {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(refusal, sizeof(refusal), fmt, ap);
    va_end(ap);
}

/* ------------------------------------------------------------ the rules */

/*
 * The options an rsync client puts on the server's command line for a
 * push, and what each may do on the standby.  An option not listed is
 * refused: rsync's own pushes never send it.
 */
enum opt_kind {
    OPT_FLAG,    /* harmless */
    OPT_VALUE,   /* harmless, with a value */
    OPT_NOSLASH, /* a value without '/' */
    OPT_SENDER,  /* --sender: a download */
    OPT_REFUSED, /* with its reason */
};

struct opt_rule {
    const char *name;
    enum opt_kind kind;
    const char *why; /* OPT_REFUSED */
};

#define WRITES_LIVE                                                            \
    "writes into the live file, so a push cut short would "                    \
    "leave a partial file in the tree"
#define FOLLOWS "follows symbolic links, which the tree's owner can plant"
#define READS "reads a file of the standby"
#define WRITES "writes a file of the standby outside the destination"
#define DRY "changes nothing, yet would mark the batch complete"
#define THROUGH_LINK                                                           \
    "names a directory in the tree, where the pusher may have planted a "      \
    "symbolic link that leads out of it"

static const struct opt_rule opt_rules[] = {
    {"acls", OPT_FLAG, NULL},
    {"append", OPT_REFUSED, WRITES_LIVE},
    {"append-verify", OPT_REFUSED, WRITES_LIVE},
    {"atimes", OPT_FLAG, NULL},
    {"backup", OPT_FLAG, NULL},
    {"backup-dir", OPT_REFUSED, THROUGH_LINK},
    {"block-size", OPT_VALUE, NULL},
    {"bwlimit", OPT_VALUE, NULL},
    {"checksum", OPT_FLAG, NULL},
    {"checksum-choice", OPT_VALUE, NULL},
    {"checksum-seed", OPT_VALUE, NULL},
    {"compare-dest", OPT_REFUSED, THROUGH_LINK},
    {"compress", OPT_FLAG, NULL},
    {"compress-choice", OPT_VALUE, NULL},
    {"compress-level", OPT_VALUE, NULL},
    {"compress-threads", OPT_VALUE, NULL},
    {"config", OPT_REFUSED, READS},
    {"confine-root", OPT_REFUSED, "is set by this program"},
    {"copy-dest", OPT_REFUSED, THROUGH_LINK},
    {"copy-devices", OPT_REFUSED, READS},
    {"copy-dirlinks", OPT_REFUSED, FOLLOWS},
    {"copy-links", OPT_REFUSED, FOLLOWS},
    {"copy-unsafe-links", OPT_REFUSED, FOLLOWS},
    {"crtimes", OPT_FLAG, NULL},
    {"daemon", OPT_REFUSED, "starts a daemon"},
    {"debug", OPT_REFUSED, "is not needed for a push"},
    {"delay-updates", OPT_REFUSED, THROUGH_LINK},
    {"delete", OPT_FLAG, NULL},
    {"delete-after", OPT_FLAG, NULL},
    {"delete-before", OPT_FLAG, NULL},
    {"delete-delay", OPT_FLAG, NULL},
    {"delete-during", OPT_FLAG, NULL},
    {"delete-excluded", OPT_FLAG, NULL},
    {"delete-missing-args", OPT_FLAG, NULL},
    {"dirs", OPT_FLAG, NULL},
    {"dparam", OPT_REFUSED, "configures a daemon"},
    {"exclude-from", OPT_REFUSED, READS},
    {"executability", OPT_FLAG, NULL},
    {"existing", OPT_FLAG, NULL},
    {"fake-super", OPT_FLAG, NULL},
    {"files-from", OPT_REFUSED, READS},
    {"force", OPT_FLAG, NULL},
    {"from0", OPT_FLAG, NULL},
    {"fsync", OPT_FLAG, NULL},
    {"fuzzy", OPT_FLAG, NULL},
    {"group", OPT_FLAG, NULL},
    {"groupmap", OPT_VALUE, NULL},
    {"hard-links", OPT_FLAG, NULL},
    {"iconv", OPT_VALUE, NULL},
    {"ignore-errors", OPT_FLAG, NULL},
    {"ignore-existing", OPT_FLAG, NULL},
    {"ignore-missing-args", OPT_FLAG, NULL},
    {"ignore-times", OPT_FLAG, NULL},
    {"include-from", OPT_REFUSED, READS},
    {"info", OPT_VALUE, NULL},
    {"inplace", OPT_REFUSED, WRITES_LIVE},
    {"insecure-links", OPT_REFUSED, FOLLOWS},
    {"keep-dirlinks", OPT_REFUSED, FOLLOWS},
    {"link-dest", OPT_REFUSED, THROUGH_LINK},
    {"links", OPT_FLAG, NULL},
    {"list-only", OPT_REFUSED, DRY},
    {"log-file", OPT_REFUSED, WRITES},
    {"log-file-format", OPT_REFUSED, WRITES},
    {"log-format", OPT_VALUE, NULL},
    {"max-alloc", OPT_VALUE, NULL},
    {"max-delete", OPT_VALUE, NULL},
    {"max-size", OPT_VALUE, NULL},
    {"min-size", OPT_VALUE, NULL},
    {"mkpath", OPT_FLAG, NULL},
    {"modify-window", OPT_VALUE, NULL},
    {"msgs2stderr", OPT_FLAG, NULL},
    {"munge-links", OPT_FLAG, NULL},
    {"new-compress", OPT_FLAG, NULL},
    {"no-W", OPT_FLAG, NULL},
    {"no-implied-dirs", OPT_FLAG, NULL},
    {"no-msgs2stderr", OPT_FLAG, NULL},
    {"no-munge-links", OPT_REFUSED, FOLLOWS},
    {"no-r", OPT_FLAG, NULL},
    {"no-relative", OPT_FLAG, NULL},
    {"no-specials", OPT_FLAG, NULL},
    {"numeric-ids", OPT_FLAG, NULL},
    {"old-compress", OPT_FLAG, NULL},
    {"omit-dir-times", OPT_FLAG, NULL},
    {"omit-link-times", OPT_FLAG, NULL},
    {"one-file-system", OPT_FLAG, NULL},
    {"only-write-batch", OPT_REFUSED, WRITES},
    {"open-noatime", OPT_FLAG, NULL},
    {"owner", OPT_FLAG, NULL},
    {"partial", OPT_REFUSED, WRITES_LIVE},
    {"partial-dir", OPT_REFUSED, THROUGH_LINK},
    {"password-file", OPT_REFUSED, READS},
    {"perms", OPT_FLAG, NULL},
    {"preallocate", OPT_FLAG, NULL},
    {"protect-args", OPT_REFUSED, "would carry arguments past this check"},
    {"prune-empty-dirs", OPT_FLAG, NULL},
    {"read-batch", OPT_REFUSED, READS},
    {"recursive", OPT_FLAG, NULL},
    {"relative", OPT_FLAG, NULL},
    {"remove-sent-files", OPT_FLAG, NULL},
    {"remove-source-files", OPT_FLAG, NULL},
    {"rsync-path", OPT_REFUSED, "runs a program of the sender's choice"},
    {"safe-links", OPT_FLAG, NULL},
    {"secluded-args", OPT_REFUSED, "would carry arguments past this check"},
    {"sender", OPT_SENDER, NULL},
    {"size-only", OPT_FLAG, NULL},
    {"skip-compress", OPT_VALUE, NULL},
    {"sparse", OPT_FLAG, NULL},
    {"specials", OPT_FLAG, NULL},
    {"stats", OPT_FLAG, NULL},
    {"stderr", OPT_VALUE, NULL},
    {"suffix", OPT_NOSLASH, NULL},
    {"super", OPT_FLAG, NULL},
    {"temp-dir", OPT_REFUSED, THROUGH_LINK},
    {"timeout", OPT_VALUE, NULL},
    {"times", OPT_FLAG, NULL},
    {"update", OPT_FLAG, NULL},
    {"use-qsort", OPT_FLAG, NULL},
    {"usermap", OPT_VALUE, NULL},
    {"whole-file", OPT_FLAG, NULL},
    {"write-batch", OPT_REFUSED, WRITES},
    {"write-devices", OPT_REFUSED, WRITES_LIVE},
    {"xattrs", OPT_FLAG, NULL},
};

/* The short options of a push's cluster ("-logDtpre.iLsfxCIvu"), less
   -s (arguments past this check), -K, -L and -k (follow links) and -n (a
   dry run). */
#define SHORT_OK "ACDEHIJNORSUWXbcdglmopqrtuvxyz"

/* Characters of a command line a push sends: no quoting, no escapes, no
   shell syntax, nothing a shell or rsync would expand. */
#define WORD_CHARS                                                             \
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"           \
    "._,:=/+@-"

/* What the options of one command said. */
struct push {
    bool sender;
    bool removes; /* --remove-source-files: the sender deletes */
};

static const struct opt_rule *
rule_find(const char *name, size_t len)
{
    for (size_t i = 0; i < sizeof(opt_rules) / sizeof(opt_rules[0]); i++) {
        if (strlen(opt_rules[i].name) == len &&
            strncmp(opt_rules[i].name, name, len) == 0) {
            return &opt_rules[i];
        }
    }
    return NULL;
}

/* Check "-CLUSTER": letters of SHORT_OK, maybe "e<caps>" last, or one of
   -@N / -BN alone. */
static bool
short_ok(const char *word)
{
    const char *p = word + 1;

    if ((*p == '@' || *p == 'B') && p[1] != '\0') {
        p += 1 + (p[1] == '-' && *p == '@');
        if (*p != '\0' && strspn(p, "0123456789") == strlen(p)) {
            return true;
        }
        refuse("option %s is not a number", word);
        return false;
    }
    for (; *p != '\0'; p++) {
        if (*p == 'e') { /* the capabilities: "e31.iLsfxCIvu" */
            p += 1 + strspn(p + 1, "0123456789");
            if (*p == '.' &&
                strspn(p + 1, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcde"
                              "fghijklmnopqrstuvwxyz") == strlen(p + 1)) {
                return true;
            }
            refuse("option cluster %s has a malformed capability string", word);
            return false;
        }
        if (strchr(SHORT_OK, *p) == NULL) {
            refuse("option -%c (in %s) is refused: %s", *p, word,
                   *p == 's'           ? "it would carry arguments past "
                                         "this check"
                   : *p == 'n'         ? "a dry run " DRY
                   : strchr("KLk", *p) ? "it " FOLLOWS
                                       : "a push does not send it");
            return false;
        }
    }
    return word[1] != '\0';
}

/* Check a long option's value. */
static bool
value_ok(const struct opt_rule *r, const char *value)
{
    if (r->kind == OPT_NOSLASH && strchr(value, '/') != NULL) {
        refuse("--%s=%s is refused: no '/' allowed", r->name, value);
        return false;
    }
    return true;
}

/* Check the long option at w[*i] (taking its value from w[*i + 1] when it
   has no "="); advances *i past what it used. */
static bool
long_ok(char **w, size_t n, size_t *i, struct push *push)
{
    const char *name = w[*i] + 2, *eq = strchr(name, '=');
    const struct opt_rule *r =
        rule_find(name, eq ? (size_t) (eq - name) : strlen(name));
    const char *value = eq ? eq + 1 : NULL;

    if (r == NULL) {
        refuse("option %s is not one rsync sends for a push; refused", w[*i]);
        return false;
    }
    switch (r->kind) {
    case OPT_REFUSED:
        refuse("option --%s is refused: it %s", r->name, r->why);
        return false;
    case OPT_SENDER:
        push->sender = true;
        return eq == NULL;
    case OPT_FLAG:
        if (eq != NULL) {
            refuse("option --%s takes no value", r->name);
        }
        push->removes |= strncmp(r->name, "remove-", 7) == 0;
        return eq == NULL;
    default:
        break;
    }
    if (value == NULL) {
        if (*i + 1 >= n) {
            refuse("option --%s has no value", r->name);
            return false;
        }
        value = w[++*i];
    }
    return value_ok(r, value);
}

/*
 * Check the options of w[0..n) ("--server" first, then options up to
 * "."); sets *dot to the index of the ".".  False with the refusal set.
 */
static bool
options_ok(char **w, size_t n, size_t *dot, struct push *push)
{
    size_t i;

    memset(push, 0, sizeof(*push));
    if (n == 0 || strcmp(w[0], "--server") != 0) {
        refuse("this is not an rsync server command (--server must come "
               "first)");
        return false;
    }
    for (i = 1; i < n && strcmp(w[i], ".") != 0; i++) {
        bool ok;

        if (strncmp(w[i], "--", 2) == 0) {
            ok = long_ok(w, n, &i, push);
        } else if (w[i][0] == '-') {
            ok = short_ok(w[i]);
        } else {
            refuse("unexpected argument %s among the options", w[i]);
            ok = false;
        }
        if (!ok) {
            refuse("option %s is malformed", w[i]);
            return false;
        }
    }
    if (i == n) {
        refuse("the command has no \".\" after its options: not rsync's");
        return false;
    }
    if (push->sender && push->removes) {
        refuse("a download with --remove-source-files is refused: it would "
               "delete the files of the tree it sends");
        return false;
    }
    *dot = i;
    return true;
}

/* The sender's destination: nothing, "." or the like ("./", "./."). */
static bool
dest_arg_ok(const char *arg)
{
    if (*arg == '/') {
        return false;
    }
    for (const char *p = arg; *p != '\0'; p++) {
        if (*p != '.' && *p != '/') {
            return false;
        }
        if (p[0] == '.' && p[1] == '.') {
            return false;
        }
    }
    return true;
}

/* ------------------------------------------------------------ the command */

/* Split @p cmd on single spaces into @p words (pointers into @p cmd). */
static size_t
split_words(char *cmd, char **words)
{
    size_t n = 0;

    if (strlen(cmd) > MAX_COMMAND) {
        refuse("the command is longer than %d bytes", MAX_COMMAND);
        return 0;
    }
    for (char *p = cmd; *p != '\0'; p++) {
        if (strchr(WORD_CHARS " ", *p) == NULL) {
            if (*p >= 0x20 && *p < 0x7f) {
                refuse("the command holds '%c', which no rsync push "
                       "sends (quotes, escapes and shell syntax are refused)",
                       *p);
            } else {
                refuse("the command holds the byte 0x%02x, which no rsync "
                       "push sends",
                       (unsigned char) *p);
            }
            return 0;
        }
    }
    for (char *save = NULL, *w = strtok_r(cmd, " ", &save); w != NULL;
         w = strtok_r(NULL, " ", &save)) {
        if (n == MAX_WORDS) {
            refuse("the command has more than %d words", MAX_WORDS);
            return 0;
        }
        words[n++] = w;
    }
    return n;
}

/*
 * The argv to run for the command @p cmd (SSH_ORIGINAL_COMMAND) pushing
 * into @p dir: NULL with the refusal set when it is not a push.
 */
static char **
rebuild_argv(const struct receive *r, char *cmd, const char *dir,
             struct push *push)
{
    static char *words[MAX_WORDS + 1];
    static char confine[PATH_MAX + 32];
    char **argv;
    size_t n = split_words(cmd, words), dot, k = 0;

    if (n == 0) {
        refuse("the command is empty");
        return NULL;
    }
    if (strcmp(words[0], "rsync") != 0) {
        refuse("this key runs rsync only, not %s", words[0]);
        return NULL;
    }
    if (!options_ok(words + 1, n - 1, &dot, push)) {
        return NULL;
    }
    dot += 1; /* in words */
    if (n - dot - 1 > 1 || (n - dot - 1 == 1 && !dest_arg_ok(words[n - 1]))) {
        refuse("this key pushes into %s only: give the destination as "
               "\"HOST:\" or \"HOST:.\", not \"%s\"",
               dir, n - dot - 1 > 1 ? words[dot + 1] : words[n - 1]);
        return NULL;
    }
    argv = calloc(dot + 8, sizeof(char *));
    if (argv == NULL) {
        refuse("out of memory");
        return NULL;
    }
    argv[k++] = (char *) r->rsync;
    for (size_t i = 1; i < dot; i++) {
        argv[k++] = words[i];
    }
#ifdef VCHA_RSYNC_CONFINE
    /* merge files named by filter rules stay inside too */
    snprintf(confine, sizeof(confine), "--confine-root=%s", dir);
    argv[k++] = confine;
#else
    (void) confine;
#endif
    argv[k++] = "--";
    argv[k++] = ".";
    /* a download sends the directory's content, as "HOST:." asks */
    argv[k++] = push->sender ? "." : (char *) dir;
    return argv;
}

/* ------------------------------------------------------------ the directory */

/* @p dir must be an existing absolute directory, not "/", without "." or
   ".." components. */
static bool
dir_ok(const char *what, const char *dir)
{
    struct stat st;
    const char *p = dir;

    if (dir == NULL || dir[0] != '/' || strspn(dir, "/") == strlen(dir)) {
        fprintf(stderr, "%s: %s %s is not an absolute directory other than /\n",
                prog, what, dir ? dir : "(unset)");
        return false;
    }
    while (*p != '\0') {
        size_t n;

        p += strspn(p, "/");
        n = strcspn(p, "/");
        if ((n == 1 && p[0] == '.') || (n == 2 && strncmp(p, "..", 2) == 0)) {
            fprintf(stderr, "%s: %s %s has a \".\" or \"..\" in it\n", prog,
                    what, dir);
            return false;
        }
        p += n;
    }
    if (stat(dir, &st) < 0) {
        fprintf(stderr, "%s: %s %s: %s\n", prog, what, dir, strerror(errno));
        return false;
    }
    if (!S_ISDIR(st.st_mode)) {
        fprintf(stderr, "%s: %s %s is not a directory\n", prog, what, dir);
        return false;
    }
    return true;
}

/*
 * Whether @p dest has an active marker (@p path: its name): 1 when it is
 * there (a regular file), 0 when it is not, -errno when it cannot be
 * looked at (or is no regular file).  A push counts the last as there, a
 * download as not: each way, the newer tree is never overwritten.
 */
static int
active_is(const char *dest, char *path, size_t len)
{
    struct stat st;
    int rc = vcha_active_marker_path(dest, path, len);

    if (rc < 0) {
        return rc;
    }
    if (lstat(path, &st) < 0) {
        return errno == ENOENT ? 0 : -errno;
    }
    return S_ISREG(st.st_mode) ? 1 : -EINVAL;
}

/*
 * Whether a download (a failback's pull) from @p dest is refused: it is,
 * with the refusal set, unless @p dest is active, the newest copy of its
 * tree.  A copy that is not active may be older than its primary's tree,
 * and is never sent back; nor is one whose member migrated to another
 * standby VM (its marker's migrated_to), which has the newer tree, nor
 * one being restored from another standby VM (restoring_from).
 */
static bool
download_refused(const char *dest)
{
    struct vcha_active_marker m;
    char path[PATH_MAX + 16];
    int rc = active_is(dest, path, sizeof(path));
    int mrc = rc > 0 ? vcha_active_marker_read(dest, &m) : -ENOENT;
    bool read = rc > 0 && mrc == 0;

    if (read && m.migrated_to[0] != '\0') {
        refuse("downloads (--sender) are refused from %s: its member "
               "migrated to %s (%s), where its tree is newer than this one; "
               "only the copy it serves from is pulled back (see "
               "vcha-receive(8))",
               dest, m.migrated_to, path);
        return true;
    }
    if (read && m.restoring_from[0] != '\0') {
        refuse("downloads (--sender) are refused from %s: its member is "
               "being restored here from %s (%s), or its restore was cut "
               "short, and its tree may be only partly the migration's; "
               "a start here that finds the migration completed marks it "
               "migrated_from (see vcha-receive(8))",
               dest, m.restoring_from, path);
        return true;
    }
    if (read) {
        return false;
    }
    if (rc > 0) {
        rc = mrc == -ENOENT ? 0 : mrc; /* gone since, or unreadable */
    }
    if (rc < 0) {
        refuse("downloads (--sender) are refused from %s: its active marker "
               "%s cannot be read as one (%s), so whether this tree is the "
               "newest is not known (see vcha-receive(8))",
               dest, path, strerror(-rc));
        return true;
    }
    refuse("downloads (--sender) are refused from %s: it is not active (no "
           "%s), so it may be older than its primary's tree; only an active "
           "member's tree is pulled back (see vcha-receive(8))",
           dest, path);
    return true;
}

/*
 * Whether @p dest is active: its container serves from it since its
 * service was activated on this node, and its tree is newer than any
 * primary's.  Then no push may land in it: true, with the refusal set
 * naming the marker (and what it says).  A marker that cannot be looked
 * at counts as there.
 */
static bool
active_refused(const char *dest)
{
    char path[PATH_MAX + 16], who[256] = "";
    size_t n = strlen(dest);
    FILE *f;

    while (n > 1 && dest[n - 1] == '/') {
        n--;
    }
    if (active_is(dest, path, sizeof(path)) == 0) {
        return false;
    }
    f = fopen(path, "re");
    if (f != NULL) {
        size_t len = fread(who, 1, sizeof(who) - 1, f);

        who[len] = '\0';
        fclose(f);
        for (char *p = who; *p != '\0'; p++) {
            *p = (*p == '\n' || (unsigned char) *p < 0x20) ? ' ' : *p;
        }
        for (size_t k = strlen(who); k > 0 && who[k - 1] == ' '; k--) {
            who[k - 1] = '\0';
        }
    }
    refuse("%.*s is active (%s%s%s): a container serves from this tree, which "
           "is newer than the pushing side's; no push may land in it while "
           "that marker exists (see vcha-receive(8))",
           (int) n, dest, path, who[0] ? ": " : "", who);
    return true;
}

/* Begin a batch; prints why not.  0 or -errno. */
static int
begin(const char *dest, const char *owner, long long wait_ms,
      struct vcha_syncmark *m, FILE *also)
{
    char why[PATH_MAX + 128];
    struct vcha_syncmark old;
    int rc = vcha_syncmark_read(dest, &old, why, sizeof(why));

    if (rc == -EBADMSG) {
        fprintf(stderr, "%s: warning: %s; counting batches afresh\n", prog,
                why);
    }
    rc = vcha_syncmark_begin_as(dest, owner, wait_ms, m);
    if (rc == -EROFS) {
        /* activated while this push waited for the lock: nothing was
         * sent, and the marker is left as it was */
        active_refused(dest);
        return rc;
    }
    if (rc == -EBUSY) {
        snprintf(why, sizeof(why),
                 "another push into %s is still running (its lock %s%s was "
                 "held for %lld s); try again later",
                 dest, dest, VCHA_SYNCMARK_LOCK_SUFFIX, wait_ms / 1000);
    } else if (rc < 0) {
        snprintf(why, sizeof(why), "cannot mark the batch begun beside %s: %s",
                 dest, strerror(-rc));
    }
    if (rc < 0) {
        fprintf(stderr, "%s: %s\n", prog, why);
        if (also != NULL) {
            fprintf(also, "%s: %s\n", prog, why);
        }
    }
    return rc;
}

/* ------------------------------------------------------------ ssh mode */

static volatile sig_atomic_t child_pid;

static void
forward_signal(int sig)
{
    if (child_pid > 0) {
        kill(child_pid, sig);
    }
}

/* Pass SIGTERM, SIGINT and SIGHUP on to rsync, and keep waiting for it:
   the batch is ended with whatever rsync did. */
static void
signals_forward(void)
{
    struct sigaction sa = {.sa_handler = forward_signal};

    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

/* In the child: rsync gets the ssh channel (stdin, stdout) and the lock. */
static void
exec_rsync(char **argv, const char *dir, int lock_fd)
{
    sigset_t none;

    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    signal(SIGPIPE, SIG_DFL);
    /* rsync holds the lock while it writes, even should we die */
    if (fcntl(lock_fd, F_SETFD, 0) < 0 || chdir(dir) < 0) {
        fprintf(stderr, "%s: cannot prepare rsync: %s\n", prog,
                strerror(errno));
        _exit(EXIT_REFUSED);
    }
    execv(argv[0], argv);
    fprintf(stderr, "%s: cannot run %s: %s\n", prog, argv[0], strerror(errno));
    _exit(127);
}

/* Wait for @p pid; its exit status, 128 + signal, or -1. */
static int
wait_status(pid_t pid)
{
    int ws;

    while (waitpid(pid, &ws, 0) < 0) {
        if (errno != EINTR) {
            return -1;
        }
    }
    if (WIFEXITED(ws)) {
        return WEXITSTATUS(ws);
    }
    return WIFSIGNALED(ws) ? 128 + WTERMSIG(ws) : -1;
}

/* Leave the ssh channel to rsync: stdin and stdout become /dev/null here,
   so the channel closes as soon as rsync is done. */
static void
channel_leave(void)
{
    int fd = open("/dev/null", O_RDWR | O_CLOEXEC);

    if (fd >= 0) {
        dup2(fd, STDIN_FILENO);
        dup2(fd, STDOUT_FILENO);
        close(fd);
    }
}

/*
 * A download from an active tree: rsync sends it as it is, and no batch
 * is begun or ended (the sync marker tells of pushes only).
 */
static int
run_download(const struct receive *r, char **argv)
{
    int status;
    pid_t pid;

    if (download_refused(r->dest)) {
        fprintf(stderr, "%s: refused: %s\n", prog, refusal);
        return EXIT_REFUSED;
    }
    signals_forward();
    pid = fork();
    if (pid < 0) {
        fprintf(stderr, "%s: cannot fork: %s\n", prog, strerror(errno));
        return EXIT_REFUSED;
    }
    if (pid == 0) {
        signal(SIGPIPE, SIG_DFL);
        if (chdir(r->dest) < 0) {
            fprintf(stderr, "%s: cannot enter %s: %s\n", prog, r->dest,
                    strerror(errno));
            _exit(EXIT_REFUSED);
        }
        execv(argv[0], argv);
        fprintf(stderr, "%s: cannot run %s: %s\n", prog, argv[0],
                strerror(errno));
        _exit(127);
    }
    child_pid = pid;
    channel_leave();
    status = wait_status(pid);
    return status < 0 ? EXIT_REFUSED : status;
}

static int
run_push(const struct receive *r, char **argv)
{
    struct vcha_syncmark m;
    int status, rc;
    pid_t pid;

    if (active_refused(r->dest)) {
        fprintf(stderr, "%s: refused: %s\n", prog, refusal);
        return EXIT_REFUSED;
    }
    rc = begin(r->dest, NULL, r->lock_wait_ms, &m, NULL);
    if (rc == -EROFS) {
        fprintf(stderr, "%s: refused: %s\n", prog, refusal);
    }
    if (rc < 0) {
        return EXIT_REFUSED;
    }
    signals_forward();
    pid = fork();
    if (pid < 0) {
        fprintf(stderr, "%s: cannot fork: %s\n", prog, strerror(errno));
        vcha_syncmark_end(r->dest, &m, -1);
        return EXIT_REFUSED;
    }
    if (pid == 0) {
        exec_rsync(argv, r->dest, m.lock_fd);
    }
    child_pid = pid;
    channel_leave();
    status = wait_status(pid);
    rc = vcha_syncmark_end(r->dest, &m, status);
    if (rc < 0) {
        fprintf(stderr, "%s: cannot mark the batch ended beside %s: %s\n", prog,
                r->dest, strerror(-rc));
    }
    if (status != 0) {
        fprintf(stderr,
                "%s: rsync ended with status %d: batch %lld into %s "
                "is incomplete\n",
                prog, status, m.batch, r->dest);
    }
    return status < 0 ? EXIT_REFUSED : status;
}

static int
mode_ssh(const struct receive *r)
{
    const char *orig = getenv("SSH_ORIGINAL_COMMAND");
    char *cmd, **argv;
    struct push push;
    int rc;

    if (!dir_ok("destination", r->dest)) {
        return EXIT_REFUSED;
    }
    if (orig == NULL) {
        fprintf(stderr,
                "%s: SSH_ORIGINAL_COMMAND is not set: run me as "
                "the forced command of an ssh key (see vcha-receive(8))\n",
                prog);
        return EXIT_REFUSED;
    }
    if (strcmp(orig, "true") == 0) {
        return 0; /* a connectivity check */
    }
    cmd = strdup(orig);
    argv = cmd ? rebuild_argv(r, cmd, r->dest, &push) : NULL;
    if (argv == NULL) {
        fprintf(stderr, "%s: refused: %s\n", prog,
                refusal[0] ? refusal : "out of memory");
        free(cmd);
        return EXIT_REFUSED;
    }
    rc = push.sender ? run_download(r, argv) : run_push(r, argv);
    free(argv);
    free(cmd);
    return rc;
}

/* ------------------------------------------------------------ daemon mode */

/* An environment variable the rsync daemon sets, or NULL (said so). */
static const char *
env_need(const char *name)
{
    const char *v = getenv(name);

    if (v == NULL || *v == '\0') {
        fprintf(stderr,
                "%s: %s is not set: run me as an rsync daemon's "
                "pre-xfer or post-xfer exec (see vcha-receive(8))\n",
                prog, name);
        return NULL;
    }
    return v;
}

static bool
parse_int(const char *s, long long lo, long long hi, long long *v)
{
    char *end;

    errno = 0;
    *v = strtoll(s, &end, 10);
    return errno == 0 && end != s && *end == '\0' && *v >= lo && *v <= hi;
}

/* Say the refusal where the client sees it (stdout) and in the log. */
static int
daemon_refuse(void)
{
    printf("%s: refused: %s\n", prog, refusal);
    fprintf(stderr, "%s: refused: %s\n", prog, refusal);
    fflush(stdout);
    return EXIT_REFUSED;
}

/* The request must be the module's root: "MODULE", "MODULE/". */
static bool
request_ok(const char *module, const char *request)
{
    size_t n = strlen(module);
    const char *rest = request + n;

    if (strncmp(request, module, n) == 0 &&
        (*rest == '\0' || (*rest == '/' && dest_arg_ok(rest + 1)))) {
        return true;
    }
    refuse("this module receives into its root only, not into %s", request);
    return false;
}

/* The daemon's arguments RSYNC_ARG1... as words; NULL-terminated. */
static size_t
daemon_args(char **words)
{
    size_t n = 0;

    for (; n < MAX_WORDS; n++) {
        char name[32];
        const char *v;

        snprintf(name, sizeof(name), "RSYNC_ARG%zu", n + 1);
        v = getenv(name);
        if (v == NULL) {
            break;
        }
        words[n] = (char *) v;
    }
    words[n] = NULL;
    return n;
}

/* Wait (detached) for @p pid to end, holding the lock meanwhile. */
static void
keeper_run(pid_t pid, int lock_fd)
{
    int fd = open("/dev/null", O_RDWR);
    long pidfd;

    setsid();
    if (fd >= 0) {
        dup2(fd, 0);
        dup2(fd, 1);
        dup2(fd, 2);
    }
    /* nothing of the daemon's may stay open here but the lock */
    for (int i = 3; i < 1024; i++) {
        if (i != lock_fd) {
            close(i);
        }
    }
    pidfd = syscall(SYS_pidfd_open, pid, 0);
    if (pidfd >= 0) {
        struct pollfd p = {.fd = (int) pidfd, .events = POLLIN};

        while (poll(&p, 1, -1) < 0 && errno == EINTR) {
        }
        _exit(0);
    }
    while (kill(pid, 0) == 0 || errno == EPERM) {
        vcha_sleep_ms(200);
    }
    _exit(0);
}

static int
mode_pre(const struct receive *r)
{
    const char *path = env_need("RSYNC_MODULE_PATH");
    const char *module = env_need("RSYNC_MODULE_NAME");
    const char *request = env_need("RSYNC_REQUEST");
    const char *pid_s = env_need("RSYNC_PID");
    char *words[MAX_WORDS + 1], owner[64];
    struct vcha_syncmark m;
    struct push push;
    size_t n, dot;
    long long pid;
    pid_t keeper;
    int rc;

    if (!path || !module || !request || !pid_s ||
        !parse_int(pid_s, 1, INT_MAX, &pid) || !dir_ok("module path", path)) {
        return EXIT_REFUSED;
    }
    n = daemon_args(words);
    if (!options_ok(words, n, &dot, &push) || !request_ok(module, request)) {
        return daemon_refuse();
    }
    if (push.sender) {
        /* a download: no batch; post-xfer finds none of its own */
        return download_refused(path) ? daemon_refuse() : 0;
    }
    if (active_refused(path)) {
        return daemon_refuse();
    }
    snprintf(owner, sizeof(owner), "rsyncd %lld", pid);
    rc = begin(path, owner, r->lock_wait_ms, &m, stdout);
    if (rc == -EROFS) {
        return daemon_refuse();
    }
    if (rc < 0) {
        return EXIT_REFUSED;
    }
    fflush(stdout);
    keeper = fork();
    if (keeper == 0) {
        keeper_run((pid_t) pid, m.lock_fd);
    }
    if (keeper < 0) {
        fprintf(stderr, "%s: cannot fork the lock's keeper: %s\n", prog,
                strerror(errno));
        printf("%s: cannot fork\n", prog);
        vcha_syncmark_end(path, &m, -1);
        return EXIT_REFUSED;
    }
    vcha_syncmark_release(&m); /* the keeper holds it */
    return 0;
}

static int
mode_post(const struct receive *r)
{
    const char *path = env_need("RSYNC_MODULE_PATH");
    const char *status_s = env_need("RSYNC_EXIT_STATUS");
    const char *pid_s = env_need("RSYNC_PID");
    char why[PATH_MAX + 128], owner[64];
    struct vcha_syncmark m;
    long long status;
    int rc;

    (void) r;
    if (!path || !status_s || !pid_s) {
        return EXIT_REFUSED;
    }
    if (!parse_int(status_s, INT_MIN, INT_MAX, &status) || status < -1 ||
        status > 255) {
        status = -1;
    }
    snprintf(owner, sizeof(owner), "rsyncd %s", pid_s);
    rc = vcha_syncmark_read(path, &m, why, sizeof(why));
    if (rc == -ENOENT) {
        return 0; /* pre-xfer refused before any batch began */
    }
    if (rc < 0) {
        fprintf(stderr, "%s: %s\n", prog, why);
        return EXIT_REFUSED;
    }
    if (m.complete || strcmp(m.owner, owner) != 0) {
        /* pre-xfer refused this transfer: the batch is another's */
        fprintf(stderr,
                "%s: batch %lld of %s is not this transfer's (%s); "
                "left as it is\n",
                prog, m.batch, path, m.owner);
        return 0;
    }
    rc = vcha_syncmark_end(path, &m, (int) status);
    if (rc < 0) {
        fprintf(stderr, "%s: cannot mark the batch ended beside %s: %s\n", prog,
                path, strerror(-rc));
        return EXIT_REFUSED;
    }
    return 0;
}

/* ------------------------------------------------------------ state */

static void
state_print(const char *dest, const struct vcha_syncmark *m)
{
    char path[PATH_MAX];

    vcha_syncmark_path(dest, path, sizeof(path));
    printf("marker=%s\n", path);
    printf("state=%s\n", m->complete ? "complete" : "incomplete");
    printf("batch=%lld\ncompleted=%lld\n", m->batch, m->completed);
    printf("started_ms=%lld\nfinished_ms=%lld\n", m->started_ms,
           m->finished_ms);
    printf("status=%d\npackages=%s\nowner=%s\n", m->status, m->packages,
           m->owner);
    printf("running=%s\n", m->running ? "yes" : "no");
}

static int
mode_state(const struct receive *r)
{
    char why[PATH_MAX + 128];
    struct vcha_syncmark m;
    int rc = vcha_syncmark_read(r->dest, &m, why, sizeof(why));

    if (rc == 0 && !m.complete && r->wait_ms > 0) {
        rc = vcha_syncmark_wait(r->dest, r->wait_ms, &m);
        rc = rc == -EINPROGRESS ? 0 : rc;
        if (rc < 0) {
            rc = vcha_syncmark_read(r->dest, &m, why, sizeof(why));
        }
    }
    if (rc == -ENOENT) {
        printf("state=never\n");
        fprintf(stderr, "%s: %s was never synced (no marker)\n", prog, r->dest);
        return EXIT_NEVER;
    }
    if (rc < 0) {
        fprintf(stderr, "%s: %s\n", prog, why);
        return EXIT_ERROR;
    }
    state_print(r->dest, &m);
    if (!m.complete) {
        fprintf(stderr, "%s: batch %lld into %s is incomplete (%s)\n", prog,
                m.batch, r->dest,
                m.running ? "a push is still running"
                          : "its push did not finish; the tree may be "
                            "half-applied");
        return EXIT_INCOMPLETE;
    }
    return EXIT_COMPLETE;
}

/* ------------------------------------------------------------ main */

static void
usage(FILE *out)
{
    fprintf(out,
            "Usage: %s --dest DIR [--rsync PATH] [--lock-wait SECONDS]\n"
            "           (an ssh forced command: pushes into DIR only)\n"
            "       %s --pre-xfer | --post-xfer [--lock-wait SECONDS]\n"
            "           (an rsync daemon module's pre-xfer / post-xfer exec)\n"
            "       %s --state DIR [--wait SECONDS]\n"
            "           (the last batch: exit 0 complete, 1 incomplete,\n"
            "            2 never synced, 3 error)\n",
            prog, prog, prog);
}

static bool
set_mode(struct receive *r, enum mode mode)
{
    if (r->mode != MODE_NONE && r->mode != mode) {
        fprintf(stderr,
                "%s: --dest, --pre-xfer, --post-xfer and --state "
                "exclude one another\n",
                prog);
        return false;
    }
    r->mode = mode;
    return true;
}

static bool
seconds_arg(const char *opt, const char *s, long long *ms)
{
    long long v;

    if (!parse_int(s, 0, 86400 * 365, &v)) {
        fprintf(stderr, "%s: %s %s is not a number of seconds\n", prog, opt, s);
        return false;
    }
    *ms = v * 1000;
    return true;
}

/* Parse the options into @p r; false on a usage error. */
static bool
parse_args(int argc, char **argv, struct receive *r)
{
    static const struct option opts[] = {
        {"dest", required_argument, NULL, 'd'},
        {"rsync", required_argument, NULL, 'r'},
        {"lock-wait", required_argument, NULL, 'l'},
        {"pre-xfer", no_argument, NULL, 'P'},
        {"post-xfer", no_argument, NULL, 'Q'},
        {"state", required_argument, NULL, 's'},
        {"wait", required_argument, NULL, 'w'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    bool ok = true;
    int c;

    while (ok && (c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'd':
        case 's':
            ok = set_mode(r, c == 'd' ? MODE_SSH : MODE_STATE);
            r->dest = optarg;
            break;
        case 'r':
            r->rsync = optarg;
            ok = optarg[0] == '/';
            break;
        case 'l':
            ok = seconds_arg("--lock-wait", optarg, &r->lock_wait_ms);
            break;
        case 'w':
            ok = seconds_arg("--wait", optarg, &r->wait_ms);
            break;
        case 'P':
        case 'Q':
            ok = set_mode(r, c == 'P' ? MODE_PRE : MODE_POST);
            break;
        case 'h':
            usage(stdout);
            exit(0);
        default:
            ok = false;
        }
    }
    return ok && optind == argc && r->mode != MODE_NONE;
}

int
main(int argc, char **argv)
{
    struct receive r = {
        .rsync = VCHA_RSYNC,
        .lock_wait_ms = VCHA_SYNCMARK_LOCK_WAIT_MS,
    };

    if (!parse_args(argc, argv, &r)) {
        usage(stderr);
        return r.mode == MODE_STATE ? EXIT_ERROR : EXIT_REFUSED;
    }
    switch (r.mode) {
    case MODE_SSH:
        return mode_ssh(&r);
    case MODE_PRE:
        return mode_pre(&r);
    case MODE_POST:
        return mode_post(&r);
    default:
        return mode_state(&r);
    }
}
