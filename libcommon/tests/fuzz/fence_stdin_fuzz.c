/*
 * libFuzzer target for the FenceAgentAPI stdin parser (libcommon/fence.c):
 * whatever the fencer, or anyone else, writes to a fence agent's stdin must
 * be parsed and validated without a crash, a leak or undefined behaviour.
 *
 * Built and run by "make check-fuzz" (libcommon/tests/Makefile.am).
 */
#include <config.h>

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <vcha/fence.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const modes[] = {"onoff", "cycle", NULL};

/* A small agent with one option of each kind, and an obsolete name. */
static const struct vcha_fence_opt opts[] = {
    {{.name = "uri", .dflt = "test:///default", .shortdesc = "URI"},
     0,
     "[uri]",
     NULL},
    {{.name = "username", .shortdesc = "User"}, 'l', "[name]", "login"},
    {{.name = "method",
      .type = VCHA_PT_SELECT,
      .dflt = "onoff",
      .options = modes,
      .shortdesc = "Method"},
     'm',
     "[method]",
     NULL},
    {{.name = "retries",
      .type = VCHA_PT_INTEGER,
      .dflt = "3",
      .min = 0,
      .max = 10,
      .shortdesc = "Retries"},
     0,
     "[count]",
     NULL},
    {{.name = "ssl", .type = VCHA_PT_BOOLEAN, .dflt = "0", .shortdesc = "SSL"},
     'z',
     NULL,
     NULL},
};

/* Checks across options, as an agent's validate hook does. */
static int
validate(struct vcha_fence *f)
{
    const char *user = vcha_fence_str(f, "username");

    if (vcha_fence_num(f, "ssl") &&
        strncmp(vcha_fence_str(f, "uri"), "test:", 5) == 0) {
        vcha_fence_fail(f, "ssl makes no sense with the test driver");
        return -EINVAL;
    }
    if (user != NULL && strlen(user) > 32) {
        vcha_fence_fail(f, "username %.32s... is too long", user);
        return -EINVAL;
    }
    return 0;
}

static enum vcha_fence_rc
run(struct vcha_fence *f)
{
    (void) f;
    return VCHA_FENCE_FAILED; /* never called here */
}

static const struct vcha_fence_agent agent = {
    .name = "fence_fuzz",
    .shortdesc = "Fuzz target",
    .longdesc = "An agent for the stdin parser fuzz target.",
    .vendor_url = "https://example.org",
    .opts = opts,
    .n_opts = sizeof(opts) / sizeof(opts[0]),
    .validate = validate,
    .run = run,
};

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct vcha_fence f;
    char *text = malloc(size + 1);

    if (text == NULL) {
        return 0;
    }
    memcpy(text, data, size);
    text[size] = '\0'; /* as read_stdin() hands it over; stops at a NUL */
    if (vcha_fence_init(&f, &agent) != 0) {
        abort();
    }
    if (vcha_fence_parse_stdin(&f, text) != 0) {
        abort(); /* only -ENOMEM, and ASan never returns NULL */
    }
    if (vcha_fence_validate(&f) == 0) {
        /* every value must be readable, every action named */
        for (size_t i = 0; i < f.n; i++) {
            const char *s = vcha_fence_str(&f, f.opts[i]->p.name);

            if (s != NULL && strlen(s) > 4096) {
                abort(); /* validate refuses longer values */
            }
            (void) vcha_fence_num(&f, f.opts[i]->p.name);
        }
        if (f.action >= VCHA_FENCE_N_ACTIONS) {
            abort(); /* validate accepts known actions only */
        }
        (void) vcha_fence_action_name(f.action);
    } else if (f.reason[0] == '\0') {
        abort(); /* a refusal always says why */
    }
    vcha_fence_clear(&f);
    free(text);
    return 0;
}
