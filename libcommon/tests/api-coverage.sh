#!/bin/sh
# Every public function of libcommon (declared in libcommon/LAYER/vcha/*.h)
# must be called by at least one unit test under libcommon/tests: one TAP
# result per function, "not ok" for a function no test calls.  A call is
# the name followed by "(" outside a comment: a name in a comment, a
# declaration of a wrapper (__wrap_NAME) or a mention in a string is not.
#
# make check runs it with srcdir (this folder) and top_srcdir set, which
# keeps it working in a VPATH build; run by hand it finds them from $0.

srcdir=${srcdir:-$(dirname "$0")}
top_srcdir=${top_srcdir:-$srcdir/../..}
headers=$(ls -d "$top_srcdir"/libcommon/*/vcha | tr '\n' ' ')

# Names of the functions declared in the public headers.  A declaration
# starts its line with the return type or the name; typedefs and macros
# (vcha_err() and friends) are skipped.
public_functions() {
    for h in $(for d in $headers; do ls "$d"/*.h; done); do
        grep '^[A-Za-z]' "$h" | grep -v '^typedef' |
            sed -n 's/^\(.*[ *]\)\{0,1\}\(vcha_[A-Za-z0-9_]*\)(.*$/\2/p'
    done | sort -u
}

# The code of every test program, without comment lines, trailing
# comments or string literals.
test_code() {
    find "$srcdir" -type f -name '*.c' | sort | while read -r f; do
        sed -e '/^[[:space:]]*\/\*/d' -e '/^[[:space:]]*\*/d' \
            -e '/^[[:space:]]*\/\//d' -e 's/"[^"]*"/""/g' \
            -e 's|/\*.*\*/||g' -e 's|//.*||' "$f"
    done
}

if [ -z "$headers" ]; then
    echo "Bail out! no headers in $headers"
    exit 1
fi
functions=$(public_functions)
if [ -z "$functions" ]; then
    echo "Bail out! no public functions found in $headers"
    exit 1
fi
code=$(test_code)

echo "1..$(echo "$functions" | wc -l | tr -d ' ')"
n=0
failed=0
for fn in $functions; do
    n=$((n + 1))
    # a call of the name as a whole word: __wrap_vcha_exec is not vcha_exec
    if echo "$code" | grep -Eq "(^|[^A-Za-z0-9_])$fn[[:space:]]*\("; then
        echo "ok $n - $fn"
    else
        echo "not ok $n - $fn has no unit test"
        failed=$((failed + 1))
    fi
done
[ "$failed" -eq 0 ]
