#!/bin/bash
# ocf-tester (from resource-agents) accepts every agent, run for real.
set -u
. "$top_srcdir/tests/lib/tap.sh"
. "$top_srcdir/tests/lib/named.sh"

command -v ocf-tester >/dev/null || tap_bail "ocf-tester missing: install resource-agents"
[ "$(id -u)" = 0 ] || tap_skip_all "ocf-tester's permission test needs root"
work=$(mktemp -d)
chmod 755 "$work"
ctset_kill() { # a daemon ocf-tester's failure left behind
    local pid
    pid=$(cat "$work/run/ctset/ctset-test/rsyncd.pid" 2>/dev/null) &&
        kill "$pid" 2>/dev/null
}
trap 'named_stop; ctset_kill; rm -rf "$work"' EXIT
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

# ctset with its real rsync daemon on a free loopback port; its members were
# never synced, so no container starts (tests/ctset/agent.sh runs them)
. "$top_srcdir/tests/lib/receiver.sh"
# ocf-tester checks the meta-data against the OCF 1.0 DTD, which predates
# reloadable and reload-agent: it gets the OCF 1.0 view of them, as
# tests/vm/ocf-tester.sh gives it (conformance/metadata.sh checks the OCF
# 1.1 meta-data against the OCF 1.1 schema).  Every other action is ctset's.
command -v xsltproc > /dev/null || tap_bail "xsltproc missing"
cp "$top_builddir/agents/ctset" "$work/ctset-agent"
cp "$top_srcdir/tests/conformance/ocf-1.0-view.xsl" "$work/view.xsl"
cat > "$work/ctset" << SH
#!/bin/sh
if [ "\$1" = meta-data ]; then
    "$work/ctset-agent" meta-data | xsltproc "$work/view.xsl" -
    exit
fi
exec "$work/ctset-agent" "\$@"
SH
chmod 755 "$work/ctset" "$work/ctset-agent"
chmod 644 "$work/view.xsl"
(umask 077 && printf "web:tester-secret\ndb:tester-secret\n" > "$work/ctset.secrets")
port=$(receiver_free_port) || tap_bail "no free port"
VCHA_RUN_DIR=$work/run VCHA_RECEIVE=$top_builddir/daemon/vcha-receive \
    HA_RSCTMP=$work/state ocf-tester -v -n ctset-test \
    -o members="web:hot:198.18.7.2/24 db:cold:198.18.7.3/24" \
    -o sync_dir="$work/sync" -o lxcpath="$work/lxc" \
    -o receiver_address=127.0.0.1 -o receiver_port="$port" \
    -o secrets_file="$work/ctset.secrets" \
    "$work/ctset" > "$work/ctset.out" 2>&1
rc=$?
sed 's/^/#  /' "$work/ctset.out"
tap_is "$rc" 0 "ocf-tester passes ctset"
# no rsync daemon of its own configuration lives on (a zombie waits for its
# reaper, which here may be slow)
left=
for p in $(pgrep -f -- "--config=$work/run/ctset/ctset-test/rsyncd.conf"); do
    st=$(ps -o stat= -p "$p" 2>/dev/null)
    [ -n "$st" ] && [[ $st != Z* ]] && left+=" $p"
done
tap_is "$left" "" "ctset: its rsync daemon is gone after ocf-tester's stop"
tap_done
