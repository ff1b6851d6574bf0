#!/bin/bash
# ocf-tester (from resource-agents) accepts every agent, run for real.
set -u
. "$top_srcdir/tests/lib/tap.sh"
. "$top_srcdir/tests/lib/named.sh"

command -v ocf-tester >/dev/null || tap_bail "ocf-tester missing: install resource-agents"
[ "$(id -u)" = 0 ] || tap_skip_all "ocf-tester's permission test needs root"
work=$(mktemp -d)
chmod 755 "$work"
trap 'named_stop; rm -rf "$work"' EXIT
named_start "$work/named" || tap_bail "cannot start named"

# ocf-tester runs the agent as nobody for meta-data: give it a copy that
# nobody can reach whatever the permissions of the build tree.
cp "$top_builddir/agents/dnsswitch" "$work/dnsswitch"
chmod 755 "$work/dnsswitch"
HA_RSCTMP=$work/state ocf-tester -v -n dns-test \
    -o name=tester.vcha.test -o address=198.18.0.20 -o server=127.0.0.1 \
    -o port="$NAMED_PORT" -o keyfile="$NAMED_KEYFILE" \
    "$work/dnsswitch" > "$work/out" 2>&1
rc=$?
sed 's/^/#  /' "$work/out"
tap_is "$rc" 0 "ocf-tester passes dnsswitch"
tap_done
