#!/bin/bash
# Golden-output regression: every action of every agent with fixed inputs;
# exit code, exit reason and log lines recorded, volatile text blanked, the
# whole compared with regression/<agent>.exp.
#   regression.sh           compare (TAP)
#   regression.sh --update  rewrite the expected files in the source tree
set -u
. "$top_srcdir/tests/lib/tap.sh"
. "$top_srcdir/tests/lib/named.sh"

update=no
[ "${1:-}" = "--update" ] && update=yes
work=$(mktemp -d)
# ctset's cases leave no rsync daemon behind, even when they fail half-way
ctset_stop() {
    local pid
    pid=$(cat "$work/run/ctset/standby-set/rsyncd.pid" 2>/dev/null) &&
        kill "$pid" 2>/dev/null
}
trap 'named_stop; ctset_stop; rm -rf "$work"' EXIT
named_start "$work/named" || tap_bail "cannot start named"

# The short list of volatile text: the server's port, temporary paths.
blank() {
    sed -e "s/#$NAMED_PORT\b/#PORT/g" -e "s/\b$NAMED_PORT\b/PORT/g" \
        -e "s/\b${CTSET_PORT:-CTPORT}\b/CTPORT/g" \
        -e "s/\b${VCS_PORT:-VCS_PORT}\b/VCS_PORT/g" \
        -e "s/(pid [0-9]*)/(pid PID)/g" -e "s|$work|WORK|g"
}

# case_run DESCRIPTION ACTION [VAR=VALUE...]: run one case, append its record.
case_run() {
    local desc=$1 action=$2
    shift 2
    ra "$action" "$@"
    {
        echo "=#=#=#= Begin test: $desc =#=#=#="
        [ -n "$RA_ERR" ] && printf '%s\n' "$RA_ERR"
        echo "=#=#=#= End test: $desc - rc=$RA_RC =#=#=#="
    } | blank >> "$out"
}

# case_stdout DESCRIPTION ACTION: like case_run, recording stdout too.
case_stdout() {
    ra "$2"
    {
        echo "=#=#=#= Begin test: $1 =#=#=#="
        printf '%s\n' "$RA_OUT" "$RA_ERR"
        echo "=#=#=#= End test: $1 - rc=$RA_RC =#=#=#="
    } | blank >> "$out"
}

for agent in dnsswitch criuct ctset vcservice; do
    AGENT=$top_builddir/agents/$agent
    out=$work/$agent.out
    : > "$out"
    . "$top_srcdir/tests/regression/cases.sh"
    "cases_$agent"
    exp=$top_srcdir/tests/regression/$agent.exp
    if [ "$update" = yes ]; then
        cp "$out" "$exp"
        tap_ok 0 "$agent: wrote $exp"
        continue
    fi
    diff -u "$exp" "$out" > "$work/diff"
    tap_ok $? "$agent: output matches regression/$agent.exp"
    sed 's/^/#  /' "$work/diff"
done
tap_done
