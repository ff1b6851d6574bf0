#!/bin/bash
# ocf:vcha:vcservice for real, on a one-node Pacemaker (tests/lib/cluster1.sh:
# node1, the node attributes) in private namespaces: a bridge of its own
# (198.18.250.1/24) that the member container's veth joins with its own
# address (198.18.250.2/24), a busybox member root as ctset's conventions
# lay it out (SYNC_DIR/NAME/rootfs, LXCPATH/NAME/config), a real vchad
# (from the build) for the native filesync job, and a real rsync daemon
# with vcha-receive as its hooks (the sync marker) that the job pushes the
# member's tree through before the member is activated.
#
# Native (primary=node1): start_cmd, the port on address, the filesync job
# pushing into a local directory, the state file, the address attribute;
# monitor levels 0 and 10; stop removes the job, the attribute, the state.
# Container (primary elsewhere, node1 vcha-standby=true): refused on a node
# that is no standby, for a member without a config and for one never
# synced; the active marker written before the container boots and before
# activate_cmd runs (both look for it from inside, through a read-only bind
# of SYNC_DIR/NAME); a port that never opens fails start in time, naming
# it; a cold member booted, activated, serving the synced tree on its own
# address; monitor levels 0, 10, 20; probes; stop keeps the marker and
# stops the member, the one it booted and a hot one (running before) too,
# after deactivate_cmd: nothing writes in the tree a failback pulls.
# Migration: refused without a target or source, without migration_dir,
# from a node the record does not name, with no checkpoint; to and from
# the primary, a stop and a start.  Utilization measured in the member,
# published with hysteresis, a raise the scheduler would answer with a
# stop not made.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir/_build}
. "$top_srcdir/tests/lib/tap.sh"
. "$top_srcdir/tests/lib/cluster1.sh"
. "$top_srcdir/tests/lib/receiver.sh"

[ "$(id -u)" = 0 ] || tap_skip_all "LXC containers and Pacemaker need root"
for p in lxc-start lxc-info lxc-attach corosync pacemakerd rsync; do
    command -v $p > /dev/null || tap_bail "$p is not installed"
done
BUSYBOX=$(command -v busybox) || tap_bail "busybox is not installed"
file -L "$BUSYBOX" 2> /dev/null | grep -q 'statically linked' ||
    tap_bail "$BUSYBOX is not statically linked (install busybox-static)"
AGENT=$top_builddir/agents/vcservice
[ -x "$AGENT" ] && [ -x "$top_builddir/daemon/vchad" ] &&
    [ -x "$top_builddir/daemon/vcha-receive" ] ||
    tap_bail "build the agent, vchad and vcha-receive first"
cluster1_enter "$@"

work=$(mktemp -d /tmp/vcha-vcs.XXXXXX)
chmod 755 "$work"
LXCPATH=$work/lxc
SYNC=$work/sync
ROOT=$SYNC/web1/rootfs
ACTIVE=$ROOT.vcha-active
cleanup() {
    local c
    for c in web1 hot1; do
        lxc-stop -P "$LXCPATH" -n "$c" -k > /dev/null 2>&1
    done
    rm -rf "$work"
}
trap cleanup EXIT

# LXC finds a bridge in /sys/class/net: a sysfs of this network namespace,
# the cgroup hierarchies moved over onto it
mkdir -p "$work/cg"
mount --rbind /sys/fs/cgroup "$work/cg" &&
    mount -t sysfs sysfs /sys &&
    mount --rbind "$work/cg" /sys/fs/cgroup &&
    umount -l "$work/cg" || tap_bail "cannot mount this namespace's sysfs"
cluster1_start "$work/cluster" || {
    cluster1_logs
    tap_bail "the one-node cluster did not start"
}
ip link add vcsbr0 type bridge &&
    ip addr add 198.18.250.1/24 dev vcsbr0 &&
    ip link set vcsbr0 up || tap_bail "cannot make the test bridge"

export VCHA_VCHAD=$top_builddir/daemon/vchad VCHA_SOCKET=$work/run/vchad.sock
export VCHA_RUN_DIR=$work/run
mkdir -p "$work/run" "$work/rsctmp" "$LXCPATH"
vchactl() { "$top_builddir/daemon/vchactl" "$@"; }
# attr NAME: this node's transient attribute; "" when it has none (exit 78
# or 105, or no value), "QUERY FAILED (exit N)" when it cannot be asked
attr() {
    local out rc
    out=$(attrd_updater -Q -n "$1" 2> /dev/null)
    rc=$?
    case $rc in
    0) printf '%s\n' "$out" | sed -n 's/.*value="\([^"]*\)".*/\1/p' ;;
    78 | 105) ;;
    *) echo "QUERY FAILED (exit $rc)" ;;
    esac
}
# http ADDRESS PORT: the body of GET / (bash's /dev/tcp, 3 s at most)
http() {
    timeout 3 bash -c 'exec 3<> /dev/tcp/$0/$1 &&
        printf "GET / HTTP/1.0\r\n\r\n" >&3 && sed "1,/^\r$/d" <&3' "$1" "$2" 2> /dev/null
}
port_open() { timeout 2 bash -c 'exec 3<> /dev/tcp/$0/$1' "$1" "$2" 2> /dev/null; }
ms_since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%d", (b - a) * 1000 }'; }
running() { lxc-info -P "$LXCPATH" -n "$1" -s -H 2> /dev/null; }

# mkroot DIR WORD: a busybox root whose page says WORD; its init records
# whether the member's active marker was there when it started, and
# /activate whether it was there when activate_cmd ran, then serves the
# page on port 8080 (busybox httpd puts itself in the background)
mkroot() {
    local d=$1 a
    mkdir -p "$d"/{bin,dev,proc,sys,tmp,www,mnt/sync,etc}
    cp "$BUSYBOX" "$d/bin/busybox"
    for a in sh sleep usleep touch httpd true false test cat killall; do
        ln -sf busybox "$d/bin/$a"
    done
    echo "$2" > "$d/www/index.html"
    printf '%s\n' '#!/bin/sh' \
        'if [ -e /mnt/sync/rootfs.vcha-active ]; then echo present; else echo absent; fi > /tmp/init-saw' \
        'exec /bin/sleep 1000000' > "$d/init"
    printf '%s\n' '#!/bin/sh' \
        'if [ -e /mnt/sync/rootfs.vcha-active ]; then echo present; else echo absent; fi > /tmp/activate-saw' \
        'exec /bin/httpd -p 8080 -h /www' > "$d/activate"
    chmod 755 "$d/init" "$d/activate"
}
# mkconfig NAME ROOT ADDRESS: the member's config as ctset writes it, plus
# a read-only view of SYNC_DIR/NAME at /mnt/sync (the test's own probe)
mkconfig() {
    mkdir -p "$LXCPATH/$1"
    cat > "$LXCPATH/$1/config" << CONF
# ocf:vcha:ctset members: written by the agent, changes are overwritten
lxc.rootfs.path = dir:$2
lxc.uts.name = $1
lxc.init.cmd = /init
lxc.mount.auto = proc:mixed sys:ro
lxc.mount.entry = $(dirname "$2") mnt/sync none bind,ro 0 0
lxc.net.0.type = veth
lxc.net.0.link = vcsbr0
lxc.net.0.flags = up
lxc.net.0.ipv4.address = $3/24
CONF
}

# ============================================================ native
mkroot "$work/primary" "from the primary"
PORT=$(receiver_free_port)
RA_ENV=(PATH="$PATH" HA_RSCTMP="$work/rsctmp" OCF_ROOT=/usr/lib/ocf
    VCHA_VCHAD="$VCHA_VCHAD" VCHA_SOCKET="$VCHA_SOCKET" VCHA_RUN_DIR="$VCHA_RUN_DIR"
    OCF_RESOURCE_INSTANCE=web OCF_RESKEY_primary=node1 OCF_RESKEY_member=web1
    OCF_RESKEY_lxcpath="$LXCPATH" OCF_RESKEY_address=127.0.0.1
    OCF_RESKEY_ports="$PORT"
    "OCF_RESKEY_start_cmd=$BUSYBOX httpd -p 127.0.0.1:$PORT -h $work/primary/www"
    "OCF_RESKEY_stop_cmd=pkill -f ^$BUSYBOX.httpd.-p.127.0.0.1:$PORT"
    OCF_RESKEY_sync_source="$work/primary" OCF_RESKEY_sync_target="$work/copy"
    OCF_RESKEY_CRM_meta_timeout=20000 OCF_RESKEY_CRM_meta_interval=10000)
probe=OCF_RESKEY_CRM_meta_interval=0
STATE=$work/rsctmp/vcha-vcservice-web.state
mkdir -p "$work/copy"

ra monitor $probe
tap_is "$RA_RC" 7 "native: probe before start: not running"
ra start
tap_is "$RA_RC" 0 "native: start ($RA_REASON)"
tap_is "$(http 127.0.0.1 "$PORT")" "from the primary" "start_cmd's service answers on address:$PORT"
tap_is "$(sed -n 's/^mode=//p' "$STATE" 2> /dev/null)" native \
    "a state file in HA_RSCTMP says native"
tap_is "$(attr vcha-address-web)" 127.0.0.1 \
    "the address is published in vcha-address-web (Pacemaker's attrd)"
tap_is "$(vchactl health web 2> /dev/null | sed -n 's/^type=//p')" filesync \
    "vchad has the filesync job, id web"
for _ in $(seq 1 100); do
    [ "$(cat "$work/copy/www/index.html" 2> /dev/null)" = "from the primary" ] && break
    sleep 0.1
done
tap_is "$(cat "$work/copy/www/index.html" 2> /dev/null)" "from the primary" \
    "the job pushed the tree into the target directory"
echo "changed" > "$work/primary/www/new.html"
for _ in $(seq 1 100); do
    [ -e "$work/copy/www/new.html" ] && break
    sleep 0.1
done
tap_ok "$([ -e "$work/copy/www/new.html" ]; echo $?)" "and a change after it"
ra monitor
tap_is "$RA_RC" 0 "native: monitor, level 0"
ra monitor OCF_CHECK_LEVEL=10
tap_is "$RA_RC" 0 "native: monitor, level 10"
ra monitor $probe
tap_is "$RA_RC" 0 "native: probe while started"
ra start "OCF_RESKEY_start_cmd=/opt/nosuch/bin/httpd -p 1"
tap_is "$RA_RC" 5 "native: start again, start_cmd not installed: not installed"
tap_like "$RA_REASON" "start_cmd: /opt/nosuch/bin/httpd not found" \
    "naming it ($RA_REASON)"
vchactl remove web > /dev/null 2>&1
ra monitor
tap_is "$RA_RC" 0 "native: monitor with the job lost"
tap_is "$(vchactl health web 2> /dev/null | sed -n 's/^type=//p')" filesync \
    "registered the job again"
pkill -f "^$BUSYBOX.httpd.-p.127.0.0.1:$PORT"
ra monitor OCF_CHECK_LEVEL=10
tap_is "$RA_RC" 1 "native: monitor, level 10, service gone: fails"
tap_like "$RA_REASON" "port $PORT on 127.0.0.1 *" "naming the port ($RA_REASON)"
ra monitor
tap_is "$RA_RC" 1 "native: monitor, level 0, no port answers: fails"
tap_is "$RA_REASON" "no port of the service answers on 127.0.0.1" \
    "saying so ($RA_REASON)"
ra monitor $probe
tap_is "$RA_RC" 7 "native: probe with the state file, no port answering: not running"
ra stop
tap_is "$RA_RC" 0 "native: stop"
vchactl health web > /dev/null 2>&1
tap_cond "$? != 0" "the job is removed"
tap_ok "$([ ! -e "$STATE" ]; echo $?)" "the state file is removed"
tap_is "$(attr vcha-address-web)" "" "the attribute is removed"
ra monitor
tap_is "$RA_RC" 7 "native: monitor after stop: not running"
ra start
tap_is "$RA_RC" 0 "native: start after stop ($RA_REASON)"
port_open 127.0.0.1 "$PORT"
tap_ok $? "the service answers"
ra stop
tap_is "$RA_RC" 0 "native: stop again"
port_open 127.0.0.1 "$PORT"
tap_cond "$? != 0" "stop_cmd stopped the service"

# stop's last push: what the service writes as it stops (a database's last
# flush) reaches the standby, though the job is gone by then; never from a
# tree the record says is older than a member's
# (it returns once the server is gone, as a database's shutdown does)
printf '#!/bin/sh\npkill -f "^%s.httpd.-p.127.0.0.1:%s"\nwhile pgrep -f "^%s.httpd.-p.127.0.0.1:%s" > /dev/null; do sleep 0.05; done\necho "$1" > %s\nexit ${2:-0}\n' \
    "$BUSYBOX" "$PORT" "$BUSYBOX" "$PORT" "$work/primary/www/flushed.html" > "$work/stop-flush"
chmod 755 "$work/stop-flush"
ra start
ra stop "OCF_RESKEY_stop_cmd=$work/stop-flush at-stop"
tap_is "$RA_RC $(cat "$work/copy/www/flushed.html" 2> /dev/null)" "0 at-stop" \
    "native: stop pushes once more after stop_cmd: what it wrote reached the target"
tap_like "$RA_ERR" "*last push to member web1 ($work/copy): * files, 0 deleted, * bytes in * ms*" \
    "the last push is logged with its figures"
ra start
crm_attribute -t crm_config -s vcha-records -n vcha-active-web1 -v node2 > /dev/null 2>&1 ||
    tap_bail "cannot write cluster property vcha-active-web1"
ra stop "OCF_RESKEY_stop_cmd=$work/stop-flush stale"
tap_is "$RA_RC $(cat "$work/copy/www/flushed.html" 2> /dev/null)" "0 at-stop" \
    "a record naming another node: stop succeeds and does not push this older tree"
tap_like "$RA_ERR" "*member web1 is active on node2: no last push from this node*" \
    "saying so"
crm_attribute -t crm_config -s vcha-records -n vcha-active-web1 -D > /dev/null 2>&1
ra start
ra stop "OCF_RESKEY_stop_cmd=$work/stop-flush failing 1"
tap_is "$RA_RC $(grep -c failing "$work/copy/www/flushed.html")" "0 0" \
    "stop_cmd failing, the service gone: stop succeeds, with no last push (it may still write)"
tap_like "$RA_ERR" "*not stopped by stop_cmd: no last push of member web1*" "saying so"

# a standby says the member is active there (ctset's vcha-sync-web1): the
# stale primary must not serve
attrd_updater -U active -n vcha-sync-web1 > /dev/null 2>&1 ||
    tap_bail "cannot set vcha-sync-web1"
for _ in $(seq 1 50); do
    [ "$(attr vcha-sync-web1)" = active ] && break
    sleep 0.1
done
ra start
tap_is "$RA_RC" 1 "native: start refused while vcha-sync-web1 says active"
tap_like "$RA_REASON" "member web1 is active on node node1 *" "naming the node ($RA_REASON)"
port_open 127.0.0.1 "$PORT"
tap_cond "$? != 0" "start_cmd did not run"
ra stop
attrd_updater -D -n vcha-sync-web1 > /dev/null 2>&1
for _ in $(seq 1 50); do
    [ -z "$(attr vcha-sync-web1)" ] && break
    sleep 0.1
done

DEAD=$(receiver_free_port)
t0=$EPOCHREALTIME
ra start OCF_RESKEY_ports="$DEAD" OCF_RESKEY_start_cmd= \
    OCF_RESKEY_CRM_meta_timeout=6000
ms=$(ms_since "$t0")
tap_is "$RA_RC" 1 "native: a port that never opens fails start"
tap_like "$RA_REASON" "port $DEAD on 127.0.0.1 does not accept connections*" \
    "naming the port ($RA_REASON)"
tap_cond "ms >= 3000 && ms < 6000" "after waiting for it, within the timeout ($ms ms of 6000)"
ra stop OCF_RESKEY_ports="$DEAD" OCF_RESKEY_start_cmd=
tap_is "$RA_RC" 0 "and stop after it"

# ============================================================ container
RA_ENV=(PATH="$PATH" HA_RSCTMP="$work/rsctmp" OCF_ROOT=/usr/lib/ocf
    VCHA_VCHAD="$VCHA_VCHAD" VCHA_SOCKET="$VCHA_SOCKET" VCHA_RUN_DIR="$VCHA_RUN_DIR"
    OCF_RESOURCE_INSTANCE=web OCF_RESKEY_primary=vm1 OCF_RESKEY_member=web1
    OCF_RESKEY_lxcpath="$LXCPATH" OCF_RESKEY_address=198.18.251.10
    OCF_RESKEY_ports=8080 OCF_RESKEY_activate_cmd=/activate
    "OCF_RESKEY_deactivate_cmd=/bin/killall httpd"
    "OCF_RESKEY_monitor_cmd=/bin/test -s /tmp/activate-saw"
    OCF_RESKEY_CRM_meta_timeout=30000 OCF_RESKEY_CRM_meta_interval=10000)
# the member's tree is only what a push brings: an empty rootfs first
mkdir -p "$ROOT"
mkconfig web1 "$ROOT" 198.18.250.2

ra start
tap_is "$RA_RC" 5 "container: start on a node that is no standby: not installed"
tap_like "$RA_REASON" "*neither the primary (vm1) nor a standby*vcha-standby*" \
    "saying why ($RA_REASON)"
crm_attribute -N node1 -n vcha-standby -v true -l forever ||
    tap_bail "cannot set vcha-standby"
ra monitor $probe
tap_is "$RA_RC" 7 "container: probe before start: not running"
ra start OCF_RESKEY_member=nosuch
tap_is "$RA_RC" 5 "start of a member without a config: not installed"
tap_is "$RA_REASON" "no container nosuch: is the ctset clone running on this node?" \
    "saying so"
ra stop OCF_RESKEY_member=nosuch
mkroot "$ROOT" "never synced"
ra start
tap_is "$RA_RC" 1 "start of a member never synced fails"
tap_like "$RA_REASON" "member web1 was never synced (no $ROOT.vcha-sync)*" \
    "saying so ($RA_REASON)"
tap_ok "$([ ! -e "$ACTIVE" ]; echo $?)" "no active marker written"
tap_is "$(running web1)" STOPPED "nothing booted"
ra stop
rm -rf "$ROOT" && mkdir -p "$ROOT"

# the end to end: the resource natively on its primary (here, for a
# while), its filesync job pushing into the member's tree through a real
# rsync daemon with vcha-receive as its hooks (the sync marker)
receiver_rsyncd_start "$work" web1 "$ROOT" "$top_builddir/daemon/vcha-receive" ||
    tap_bail "the rsync daemon did not start"
as_primary=(OCF_RESKEY_primary=node1 OCF_RESKEY_address=127.0.0.1
    OCF_RESKEY_ports="$PORT"
    "OCF_RESKEY_start_cmd=$BUSYBOX httpd -p 127.0.0.1:$PORT -h $work/primary/www"
    "OCF_RESKEY_stop_cmd=pkill -f ^$BUSYBOX.httpd.-p.127.0.0.1:$PORT"
    OCF_RESKEY_sync_source="$work/primary"
    OCF_RESKEY_sync_target="${RECEIVER_RSYNC_URL%/}"
    OCF_RESKEY_sync_password_file="$RECEIVER_RSYNC_PASSFILE")
ra start "${as_primary[@]}"
tap_is "$RA_RC" 0 "natively with an rsync:// target ($RA_REASON)"
for _ in $(seq 1 100); do
    grep -q '^state=complete$' "$ROOT.vcha-sync" 2> /dev/null &&
        [ -e "$ROOT/activate" ] && break
    sleep 0.1
done
tap_is "$(sed -n 's/^state=//p' "$ROOT.vcha-sync" 2> /dev/null)" complete \
    "its job pushed the tree through vcha-receive: the marker says complete"
tap_is "$(cat "$ROOT/www/index.html" 2> /dev/null)" "from the primary" \
    "with the primary's files"
kill "$RECEIVER_RSYNCD_PID" 2> /dev/null
# the receiver gone, the job's pushes fail: each monitor says so, at
# warning level, and does not fail for it
echo "changed" > "$work/primary/www/new2.html"
for _ in $(seq 1 150); do
    vchactl health web 2> /dev/null | grep -q '^fig.error=\|^error=' && break
    sleep 0.1
done
ra monitor "${as_primary[@]}"
tap_is "$RA_RC" 0 "native monitor with the job's pushes failing: still running"
tap_like "$RA_ERR" "*warning: the filesync job of web reports: *" \
    "logged at warning level"
ra monitor "${as_primary[@]}"
tap_like "$RA_ERR" "*warning: the filesync job of web reports: *" "each time"
ra stop "${as_primary[@]}"
tap_is "$RA_RC" 0 "stopped natively"
vchactl health web > /dev/null 2>&1
tap_cond "$? != 0" "its job removed"
rm -f "$work/primary/www/new2.html" "$ROOT/www/new2.html"

# a port that never opens: the first start (cold member)
t0=$EPOCHREALTIME
ra start OCF_RESKEY_ports="8080 8081" OCF_RESKEY_CRM_meta_timeout=12000
ms=$(ms_since "$t0")
tap_is "$RA_RC" 1 "container: a port that never opens fails start"
tap_like "$RA_REASON" "port 8081 on 198.18.250.2 does not accept connections*" \
    "naming the port on the member's address ($RA_REASON)"
tap_cond "ms < 12000" "within the timeout ($ms ms of 12000)"
tap_is "$(sed -n 's/^instance=//p' "$ACTIVE" 2> /dev/null)" web \
    "the active marker names the resource"
tap_is "$(sed -n 's/^node=//p' "$ACTIVE" 2> /dev/null)" node1 "and the node"
since=$(sed -n 's/^since_ms=//p' "$ACTIVE" 2> /dev/null)
now=$(date +%s%3N)
tap_cond "${since:-0} > now - 60000 && ${since:-0} <= now" "and when ($since)"
tap_is "$(cat "$ROOT/tmp/init-saw" 2> /dev/null)" present \
    "the marker was there when the container booted"
tap_is "$(cat "$ROOT/tmp/activate-saw" 2> /dev/null)" present \
    "and when activate_cmd ran inside it"
ra stop OCF_RESKEY_ports="8080 8081"
tap_is "$RA_RC" 0 "container: stop after the failed start"
tap_is "$(running web1)" STOPPED "stopped the container it booted"
tap_ok "$([ -e "$ACTIVE" ]; echo $?)" "kept the active marker"

rm -f "$ROOT/tmp/init-saw" "$ROOT/tmp/activate-saw"
ra start
tap_is "$RA_RC" 0 "container: start, cold member ($RA_REASON)"
tap_is "$(running web1)" RUNNING "booted it"
tap_is "$(http 198.18.250.2 8080)" "from the primary" \
    "it serves the pushed tree on its own address"
tap_is "$(attr vcha-address-web)" 198.18.250.2 \
    "its address is published in vcha-address-web"
tap_is "$(sed -n 's/^mode=//p' "$STATE" 2> /dev/null)" container \
    "the state file says container"
ra start
tap_is "$RA_RC" 0 "start again: still started"
ra monitor
tap_is "$RA_RC" 0 "monitor, level 0"
ra monitor OCF_CHECK_LEVEL=10
tap_is "$RA_RC" 0 "monitor, level 10"
ra monitor OCF_CHECK_LEVEL=20
tap_is "$RA_RC" 0 "monitor, level 20 (monitor_cmd inside)"
ra monitor OCF_CHECK_LEVEL=20 "OCF_RESKEY_monitor_cmd=/bin/test -e /nonexistent"
tap_is "$RA_RC" 1 "monitor, level 20, monitor_cmd failing inside: fails"
ra monitor $probe
tap_is "$RA_RC" 0 "probe while active: running"
lxc-attach -P "$LXCPATH" -n web1 --clear-env -- /bin/killall httpd
ra monitor OCF_CHECK_LEVEL=10
tap_is "$RA_RC" 1 "monitor, level 10, service gone: fails"
tap_like "$RA_REASON" "port 8080 on 198.18.250.2 *" "naming the port ($RA_REASON)"
ra monitor
tap_is "$RA_RC" 0 "monitor, level 0: the container runs"
lxc-stop -P "$LXCPATH" -n web1 -k > /dev/null 2>&1
ra monitor
tap_is "$RA_RC" 1 "monitor, level 0, the container stopped: fails"
tap_is "$RA_REASON" "container web1 is stopped" "saying so"
# start finds its own marker: the sync state is judged again, and the
# member booted and activated again
ra start
tap_is "$RA_RC" 0 "start again under its own marker: booted ($RA_REASON)"
tap_is "$(http 198.18.250.2 8080)" "from the primary" "and it serves"
echo "other" > "$work/marker-other"
sed 's/^instance=web$/instance=other/' "$ACTIVE" > "$work/marker-other"
cp "$ACTIVE" "$work/marker-ours"
cp "$work/marker-other" "$ACTIVE"
ra monitor
tap_is "$RA_RC" 1 "monitor with the marker naming another resource: fails"
tap_like "$RA_REASON" "member web1 is active for other*" "saying so ($RA_REASON)"
cp "$work/marker-ours" "$ACTIVE"
ra stop
tap_is "$RA_RC" 0 "container: stop"
tap_is "$(running web1)" STOPPED "stopped the container it booted"
tap_ok "$([ -e "$ACTIVE" ]; echo $?)" "kept the active marker"
tap_is "$(attr vcha-address-web)" "" "removed the attribute"
ra monitor $probe
tap_is "$RA_RC" 7 "probe after stop: not running"
lxc-stop -P "$LXCPATH" -n web1 -k > /dev/null 2>&1
lxc-start -P "$LXCPATH" -n web1 > /dev/null 2>&1
tap_is "$(running web1)" RUNNING "the member runs (ctset's)"
tap_is "$(sed -n 's/^instance=//p' "$ACTIVE" 2> /dev/null)" web "marked for web"
ra monitor $probe
tap_is "$RA_RC" 7 "probe with the member running, marked, no state: not running"

# a hot member: running before start (ctset's); stop runs deactivate_cmd
# in it, then stops it too: its tree, newer than the primary's, is what a
# failback pulls, and a process of the member still writing in it (here a
# counter every 0.1 s) would lose what it wrote after the pull
ra start
tap_is "$RA_RC" 0 "container: start, hot member ($RA_REASON)"
tap_is "$(sed -n 's/^booted=//p' "$STATE" 2> /dev/null)" 0 "not booted by the resource"
tap_is "$(http 198.18.250.2 8080)" "from the primary" "activated: it serves"
rm -f "$ROOT/writes" "$ROOT/deactivated"
setsid lxc-attach -P "$LXCPATH" -n web1 --clear-env -- /bin/busybox sh -c \
    'n=0; while :; do n=$((n + 1)); echo $n > /writes; usleep 100000; done' \
    > /dev/null 2>&1 < /dev/null &
for _ in $(seq 1 100); do [ -s "$ROOT/writes" ] && break; sleep 0.1; done
w0=$(cat "$ROOT/writes" 2> /dev/null)
sleep 0.5
w1=$(cat "$ROOT/writes" 2> /dev/null)
tap_cond "${w1:-0} > ${w0:-0}" "a process of the member writes in its tree (count $w0, then $w1)"
# deactivate_cmd stops the service (its port closes) and leaves a mark
printf '%s\n' '#!/bin/sh' 'killall httpd' 'touch /deactivated' > "$ROOT/deactivate"
chmod 755 "$ROOT/deactivate"
ra stop OCF_RESKEY_deactivate_cmd=/deactivate
tap_is "$RA_RC" 0 "container: stop, hot member"
tap_ok "$([ -e "$ROOT/deactivated" ]; echo $?)" "deactivate_cmd ran inside it"
tap_is "$(running web1)" STOPPED "then the member was stopped"
w1=$(cat "$ROOT/writes" 2> /dev/null)
sleep 0.5
tap_is "$(cat "$ROOT/writes" 2> /dev/null)" "${w1:-none}" \
    "nothing in it writes after stop (the count stays at ${w1:-none})"
ra monitor
tap_is "$RA_RC" 7 "monitor after stop: not running"
rm -f "$ROOT/writes" "$ROOT/deactivated" "$ROOT/deactivate"
lxc-start -P "$LXCPATH" -n web1 > /dev/null 2>&1
# a hot member without deactivate_cmd: the service still answers after
# stop, so stop stops the member (else it would serve in two places)
ra start OCF_RESKEY_deactivate_cmd=
tap_is "$RA_RC" 0 "container: start, hot member, no deactivate_cmd ($RA_REASON)"
tap_is "$(sed -n 's/^booted=//p' "$STATE" 2> /dev/null)" 0 "not booted by the resource"
ra stop OCF_RESKEY_deactivate_cmd=
tap_is "$RA_RC" 0 "container: stop, hot member, no deactivate_cmd"
port_open 198.18.250.2 8080
tap_cond "$? != 0" "the service no longer answers"
tap_is "$(running web1)" STOPPED "the member is stopped"
tap_ok "$([ -e "$ACTIVE" ]; echo $?)" "its active marker kept"
ra monitor $probe
tap_is "$RA_RC" 7 "probe after it: not running"

# deactivate_cmd hanging: it gets half of the time left, the rest stops
# the member this resource booted
ra start
tap_is "$RA_RC" 0 "container: start, cold member ($RA_REASON)"
t0=$EPOCHREALTIME
ra stop "OCF_RESKEY_deactivate_cmd=/bin/sleep 1000" OCF_RESKEY_CRM_meta_timeout=10000
ms=$(ms_since "$t0")
tap_is "$RA_RC" 0 "stop with deactivate_cmd hanging ($RA_REASON)"
tap_cond "ms < 10000" "within the timeout ($ms ms of 10000)"
tap_is "$(running web1)" STOPPED "the member it booted is stopped"
lxc-stop -P "$LXCPATH" -n web1 -k > /dev/null 2>&1

# a member activated by another resource is not taken over
cp "$work/marker-other" "$ACTIVE"
ra start
tap_is "$RA_RC" 1 "start of a member active for another resource fails"
tap_like "$RA_REASON" "member web1 is active for other already" "saying so"
ra stop
# the stop after a start that failed once its state was written, before it
# activated anything (a push that ended refused, say): the member, running
# as ctset's standby or active for another resource, is left alone
lxc-start -P "$LXCPATH" -n web1 > /dev/null 2>&1
for marker in other none; do
    [ "$marker" = none ] && rm -f "$ACTIVE"
    printf 'mode=container\nbooted=0\n' > "$STATE"
    ra stop
    tap_is "$RA_RC/$(running web1)" 0/RUNNING \
        "stop after a failed start, marker $marker: the member runs on"
done
lxc-stop -P "$LXCPATH" -n web1 -k > /dev/null 2>&1

# the last push incomplete: refused on request, else activated
cp "$work/marker-ours" "$work/keep"
rm -f "$ACTIVE"
sed -i 's/^state=complete$/state=incomplete/; s/^status=0$/status=23/' "$ROOT.vcha-sync"
ra start OCF_RESKEY_incomplete_sync=refuse
tap_is "$RA_RC" 1 "incomplete_sync=refuse: start of a half-synced member fails"
tap_like "$RA_REASON" "the last push into web1 (batch 1) did not complete (rsync status 23)*" \
    "saying so ($RA_REASON)"
tap_ok "$([ ! -e "$ACTIVE" ]; echo $?)" "no active marker written"
tap_is "$(running web1)" STOPPED "nothing booted"
ra stop OCF_RESKEY_incomplete_sync=refuse
# a marker of its own left by an earlier start is no pass: the sync state
# is judged again
cp "$work/marker-ours" "$ACTIVE"
ra start OCF_RESKEY_incomplete_sync=refuse
tap_is "$RA_RC" 1 "refuse, under a marker of its own: start fails all the same"
tap_like "$RA_REASON" "the last push into web1 (batch 1) did not complete (rsync status 23)*" \
    "saying so ($RA_REASON)"
tap_is "$(running web1)" STOPPED "nothing booted"
ra stop OCF_RESKEY_incomplete_sync=refuse
rm -f "$ACTIVE"
# a push that will not end by itself (its primary lost power in the
# middle): the marker is written, the push is given a moment, then ended,
# and the member activated with its batch incomplete.  The push here: a
# process named rsync at work in the tree (its working directory there,
# as a daemon's transfer has), under a holder of the batch lock that the
# marker does not name, as an rsync daemon's connection process is.
cp /bin/sleep "$work/rsync"
(cd "$ROOT" && exec flock "$ROOT.vcha-sync.lock" "$work/rsync" 60) &
FL=$!
sleep 0.3
RS=$(pgrep -P $FL)
sed -i "s/^owner=.*/owner=rsyncd $FL/" "$ROOT.vcha-sync"
t0=$EPOCHREALTIME
ra start OCF_RESKEY_CRM_meta_timeout=30000
ms=$(ms_since "$t0")
tap_is "$RA_RC" 0 "a push that does not end: start ends it and activates ($RA_REASON)"
tap_cond "ms >= 2500 && ms < 15000" "after a moment's grace ($ms ms of 30000)"
kill -0 "$RS" 2> /dev/null
tap_is "$?" 1 "the rsync at work in the tree was ended"
tap_is "$(sed -n 's/^instance=//p' "$ACTIVE" 2> /dev/null)" web "the active marker stands"
tap_is "$(running web1)" RUNNING "the member runs"
wait $FL 2> /dev/null
ra stop
rm -f "$ACTIVE"
# a lock held by what is no rsync at work in the tree (an rsync elsewhere)
# is never signalled: the start fails naming the push, removes the marker
# it wrote, boots nothing
flock "$ROOT.vcha-sync.lock" "$work/rsync" 60 &
FL=$!
sleep 0.3
SL=$(pgrep -P $FL)
sed -i "s/^owner=.*/owner=rsyncd $SL/" "$ROOT.vcha-sync"
ra start OCF_RESKEY_CRM_meta_timeout=8000
tap_is "$RA_RC" 1 "a push whose holder is no rsync in the tree: start fails"
tap_is "$RA_REASON" "a push into web1 is under way (batch 1, by rsyncd $SL) and could not be ended" \
    "saying so"
kill -0 "$SL" 2> /dev/null
tap_is "$?" 0 "and leaves that rsync alone, though the marker names it"
tap_ok "$([ ! -e "$ACTIVE" ]; echo $?)" "the marker it wrote removed"
tap_is "$(running web1)" STOPPED "nothing booted"
kill "$SL" $FL 2> /dev/null
wait $FL 2> /dev/null
ra stop
# the member's activation lock (ctset holds it while it acts on the
# member): waited for, a bounded time; free again once the start is done
rm -f "$ACTIVE"
flock "$ROOT.vcha-active.lock" sleep 60 &
FL=$!
sleep 0.3
t0=$EPOCHREALTIME
ra start OCF_RESKEY_CRM_meta_timeout=8000
ms=$(ms_since "$t0")
tap_is "$RA_RC" 1 "the activation lock held throughout: start fails"
tap_like "$RA_REASON" "member web1 is busy: its activation lock * is held (by another process)" \
    "saying so ($ms ms of 8000)"
tap_ok "$([ ! -e "$ACTIVE" ]; echo $?)" "and writes no active marker"
kill $(pgrep -P $FL) $FL 2> /dev/null
wait $FL 2> /dev/null
ra stop OCF_RESKEY_CRM_meta_timeout=8000
flock "$ROOT.vcha-active.lock" sleep 2 &
FL=$!
sleep 0.3
t0=$EPOCHREALTIME
ra start
ms=$(ms_since "$t0")
wait $FL 2> /dev/null
tap_is "$RA_RC" 0 "the activation lock held for 2 s: start waits for it ($RA_REASON)"
tap_cond "ms >= 1500" "and activates once it is free ($ms ms)"
flock -n "$ROOT.vcha-active.lock" true
tap_ok $? "the lock is free after the start (the member did not inherit it)"
ra stop
rm -f "$ACTIVE"
# a push under way (its receiver holds the lock for 3 s) is waited for
flock "$ROOT.vcha-sync.lock" sleep 3 &
sleep 0.3
t0=$EPOCHREALTIME
ra start
ms=$(ms_since "$t0")
tap_is "$RA_RC" 0 "incomplete_sync=warn: activated ($RA_REASON)"
tap_cond "ms >= 2500" "once the push under way had ended ($ms ms)"
completed=$(sed -n 's/^completed=//p' "$ROOT.vcha-sync")
tap_cond "${completed:-0} >= 1" "the sync marker has a completed batch ($completed)"
tap_is "$(sed -n 's/^completed=//p' "$ACTIVE" 2> /dev/null)" "$completed" \
    "the active marker records it (completed=)"
tap_is "$(sed -n 's/^batch=//p' "$ACTIVE" 2> /dev/null)" \
    "$(sed -n 's/^batch=//p' "$ROOT.vcha-sync")" "and the batch judged (batch=)"
ra stop
tap_is "$(running web1)" STOPPED "and stopped"

# ============================================================ failback
# The cluster's record of where a member is active: the cluster property
# vcha-active-MEMBER (set vcha-records), written before the active marker.
# One node plays both parts here; a record naming node2 stands for a
# standby elsewhere, whose copy the rsync daemon serves.
rec() { crm_attribute -t crm_config -s vcha-records -n vcha-active-web1 -G -q 2> /dev/null; }
rec_set() { crm_attribute -t crm_config -s vcha-records -n vcha-active-web1 -v "$1"; }
tap_is "$(rec)" node1 \
    "an activation records where the member is active (cluster property vcha-active-web1)"
receiver_rsyncd_start "$work" web1 "$ROOT" "$top_builddir/daemon/vcha-receive" ||
    tap_bail "the rsync daemon did not start"
fb=("${as_primary[@]}" OCF_RESKEY_sync_target="${RECEIVER_RSYNC_URL%/}")
# what the member wrote while it served, beside the primary's stale tree
echo "written in the member" > "$ROOT/www/index.html"
echo "new in the member" > "$ROOT/www/member.html"
rm -f "$ROOT/www/new.html"
echo "stale" > "$work/primary/www/new.html"
mkdir -p "$work/primary/etc" "$ROOT/etc"
echo "primary" > "$work/primary/etc/hostname"
echo "member" > "$ROOT/etc/hostname"
rec_set node2
ra start "${fb[@]}"
tap_is "$RA_RC" 0 "failback: native start with the record naming node2 ($RA_REASON)"
tap_is "$(http 127.0.0.1 "$PORT")" "written in the member" \
    "the service starts on the member's tree, pulled back"
tap_is "$(cat "$work/primary/www/member.html" 2> /dev/null)" "new in the member" \
    "a file the member made is here"
tap_ok "$([ ! -e "$work/primary/www/new.html" ]; echo $?)" \
    "a file the member deleted is gone"
tap_is "$(cat "$work/primary/etc/hostname")" primary \
    "what a push leaves out (/etc/hostname) the pull leaves as it was"
tap_like "$RA_ERR" "*pulled back from node2 (rsync://*): * files, 1 deleted*" \
    "the pull is logged with its figures"
tap_is "$(rec)" native:node1 "the record says failed back here once the tree is here"
ra stop "${fb[@]}"
tap_is "$RA_RC" 0 "stopped natively"
tap_like "$RA_ERR" "*the last push to member web1 (rsync://*) failed: vcha-receive: refused*" \
    "its last push refused by the receiver (the member still active), a warning"

# the receiver still serving another transfer (max connections: its lock
# held, as the daemon holds it for a push that a stop has just ended): the
# pull asks again until it is free
echo "written in the member, the receiver busy" > "$ROOT/www/index.html"
# hold_receiver: in the background for 3 s ($holder), the module's
# connection slot held as rsyncd holds it for a transfer (its lock file's
# first 4 bytes), once it is held
hold_receiver() {
    rm -f "$work/held"
    python3 -c 'import fcntl, sys, time
f = open(sys.argv[1], "a+")
fcntl.lockf(f, fcntl.LOCK_EX, 4, 0)
open(sys.argv[2], "w").close()
time.sleep(3)' "$work/rsyncd-web1.lock" "$work/held" &
    holder=$!
    for _ in $(seq 1 50); do
        [ -e "$work/held" ] && break
        sleep 0.1
    done
}
hold_receiver
rec_set node2
ra start "${fb[@]}"
tap_is "$RA_RC $(http 127.0.0.1 "$PORT")" "0 written in the member, the receiver busy" \
    "failback: the receiver busy with another transfer at first, the pull is made once it is free ($RA_REASON)"
tap_like "$RA_ERR" "*receiver of member web1 serves another transfer: asking again*" \
    "after asking again"
wait "$holder"
# and the stop's last push, the member released (no active marker)
mv "$ACTIVE" "$work/marker-kept"
hold_receiver
ra stop "${fb[@]}" "OCF_RESKEY_stop_cmd=$work/stop-flush pushed-when-free"
tap_is "$RA_RC $(cat "$ROOT/www/flushed.html" 2> /dev/null)" "0 pushed-when-free" \
    "the stop's last push, the receiver busy at first: made once it is free"
tap_like "$RA_ERR" "*receiver of member web1 serves another transfer: asking again*last push to member web1 (rsync://*): * files*" \
    "after asking again"
wait "$holder"
mv "$work/marker-kept" "$ACTIVE"
# (both trees as the first failback left them)
echo "written in the member" | tee "$ROOT/www/index.html" > "$work/primary/www/index.html"

# the standby unreachable: no pull, no service from the older tree
echo "written in the member again" > "$ROOT/www/index.html"
rec_set node2
kill "$RECEIVER_RSYNCD_PID" 2> /dev/null
wait "$RECEIVER_RSYNCD_PID" 2> /dev/null
ra start "${fb[@]}"
tap_is "$RA_RC" 1 "failback, the standby unreachable: start fails"
tap_like "$RA_REASON" "cannot pull member web1's tree back from node2 (rsync://vcha@127.0.0.1:*/web1): rsync*" \
    "saying so ($RA_REASON)"
port_open 127.0.0.1 "$PORT"
tap_cond "$? != 0" "start_cmd did not run"
tap_is "$(rec)" node2 "the record stays"
ra stop "${fb[@]}"
# a receiver that takes the connection and never answers: the pull is
# bounded by the start's timeout (half of what is left), and so is start
SILENT=$(receiver_free_port)
"$BUSYBOX" nc -l -p "$SILENT" -e "$BUSYBOX" sleep 60 &
NC=$!
sleep 0.3
t0=$EPOCHREALTIME
ra start "${as_primary[@]}" OCF_RESKEY_sync_target="rsync://vcha@127.0.0.1:$SILENT/web1" \
    OCF_RESKEY_CRM_meta_timeout=8000
ms=$(ms_since "$t0")
tap_is "$RA_RC" 1 "failback, a receiver that never answers: start fails"
tap_like "$RA_REASON" "cannot pull member web1's tree back from node2 (rsync://vcha@127.0.0.1:$SILENT/web1): rsync timed out after *" \
    "saying so ($RA_REASON)"
tap_cond "ms < 8000" "within the start's timeout ($ms ms of 8000)"
tap_is "$(rec)" node2 "the record stays"
kill "$NC" 2> /dev/null
wait "$NC" 2> /dev/null
ra stop "${as_primary[@]}"
# the standby's copy not active (no marker): it may be older, never pulled
receiver_rsyncd_start "$work" web1 "$ROOT" "$top_builddir/daemon/vcha-receive" ||
    tap_bail "the rsync daemon did not start"
fb=("${as_primary[@]}" OCF_RESKEY_sync_target="${RECEIVER_RSYNC_URL%/}")
mv "$ACTIVE" "$work/marker-kept"
ra start "${fb[@]}"
tap_is "$RA_RC" 1 "failback from a copy that is not active: start fails"
tap_like "$RA_REASON" "cannot pull member web1's tree back from node2 (rsync://vcha@127.0.0.1:*/web1): vcha-receive: refused: downloads (--sender) are refused from*" \
    "the receiver refused the download ($RA_REASON)"
tap_is "$(cat "$work/primary/www/index.html")" "written in the member" \
    "nothing was pulled"
ra stop "${fb[@]}"
mv "$work/marker-kept" "$ACTIVE"
# the node where the member is active publishes the receiver that holds
# it (ocf:vcha:ctset's vcha-receiver-MEMBER): the pull goes there, in
# sync_target's user and module, whatever host and port sync_target names
peer_attr() { # peer_attr [VALUE]: node2's vcha-receiver-web1 set (removed)
    local q="attrd_updater -Q -n vcha-receiver-web1 -N node2 2> /dev/null | grep -q 'value=\"$1\"'"
    if [ -n "$1" ]; then
        attrd_updater -n vcha-receiver-web1 -U "$1" -N node2 &&
            cluster1_wait 10 sh -c "$q"
    else
        attrd_updater -n vcha-receiver-web1 -D -N node2 &&
            cluster1_wait 10 sh -c "! attrd_updater -Q -n vcha-receiver-web1 -N node2 2> /dev/null | grep -q 'value=\"[^\"]'"
    fi
}
rport=$RECEIVER_RSYNCD_PORT
dead=$(receiver_free_port)
fb_dead=("${as_primary[@]}" OCF_RESKEY_sync_target="$(sed "s|:$rport/|:$dead/|; s|/$||" <<< "$RECEIVER_RSYNC_URL")")
echo "written in the member, on node2's receiver" > "$ROOT/www/index.html"
peer_attr "127.0.0.1:$rport" || tap_bail "attrd did not take node2's vcha-receiver-web1"
ra start "${fb_dead[@]}"
tap_is "$RA_RC" 0 "failback with sync_target on a port nobody listens on ($dead): start succeeds ($RA_REASON)"
tap_is "$(http 127.0.0.1 "$PORT")" "written in the member, on node2's receiver" \
    "the tree was pulled from the receiver node2 published"
tap_like "$RA_ERR" "*pulled back from node2 (rsync://*@127.0.0.1:$rport/web1): *" \
    "and the log names it"
ra stop "${fb_dead[@]}"
rec_set node2
peer_attr "not an address" || tap_bail "attrd did not take node2's vcha-receiver-web1"
ra start "${fb_dead[@]}"
tap_is "$RA_RC" 1 "a published receiver that is no HOST:PORT: start fails"
tap_like "$RA_REASON" "*node attribute vcha-receiver-web1 of node2: \"not an address\" is no HOST:PORT*" \
    "naming the attribute ($RA_REASON)"
ra stop "${fb_dead[@]}"
# an address alone would pull from rsync's default port, another daemon's
peer_attr "127.0.0.1" || tap_bail "attrd did not take node2's vcha-receiver-web1"
ra start "${fb_dead[@]}"
tap_is "$RA_RC" 1 "a published receiver with no port: start fails"
tap_like "$RA_REASON" "*node attribute vcha-receiver-web1 of node2: \"127.0.0.1\" is no HOST:PORT*" \
    "naming the attribute ($RA_REASON)"
ra stop "${fb_dead[@]}"
peer_attr "" || tap_bail "attrd did not remove node2's vcha-receiver-web1"
# no sync_target: nothing to pull from
ra start "${as_primary[@]}" OCF_RESKEY_sync_target= OCF_RESKEY_sync_password_file=
tap_is "$RA_RC" 1 "a record but no sync_target: start fails"
tap_like "$RA_REASON" "member web1 is active on node2 (cluster property vcha-active-web1): without sync_target*" \
    "saying so ($RA_REASON)"
ra stop "${as_primary[@]}" OCF_RESKEY_sync_target= OCF_RESKEY_sync_password_file=

# on the standby: a record naming another node keeps this copy inactive;
# a marker under the record of a failback is stale, and removed; a marker
# under no record at all stands (the record was lost, not moved)
ra start
tap_is "$RA_RC" 1 "container: start while the record names another node fails"
tap_like "$RA_REASON" "member web1 is active on node2 (cluster property vcha-active-web1): the newest tree is there*" \
    "saying so ($RA_REASON)"
tap_is "$(running web1)" STOPPED "nothing booted"
ra stop
rec_set native:node2
ra start
tap_is "$RA_RC" 0 "container: start under a marker from before a failback to node2 ($RA_REASON)"
tap_like "$RA_ERR" "*its active marker was stale (cluster property vcha-active-web1: failed back to node2 since)*" \
    "the stale marker is said"
tap_is "$(rec)" node1 "the record names this node again"
tap_cond "$(sed -n 's/^since_ms=//p' "$ACTIVE") > ${since:-0}" \
    "under a new active marker"
since=$(sed -n 's/^since_ms=//p' "$ACTIVE")
ra stop
tap_ok "$([ -e "$ACTIVE" ]; echo $?)" "the marker stays after the stop"
crm_attribute -t crm_config -s vcha-records -n vcha-active-web1 -D
ra start
tap_is "$RA_RC" 0 "container: start under its own marker, the record lost ($RA_REASON)"
tap_like "$RA_ERR" "*web1: active here, but no cluster property vcha-active-web1 says so: written again*" \
    "saying so"
tap_is "$(rec)" node1 "the record names this node again"
tap_is "$(sed -n 's/^since_ms=//p' "$ACTIVE")" "$since" \
    "the marker is the one it had (not stale)"
ra stop
# a record of a failback that names no node is no record
rec_set native:
ra start
tap_is "$RA_RC" 0 "container: start under its own marker, the record \"native:\" ($RA_REASON)"
tap_ok "$([[ $RA_ERR == *"says so: written again"* ]] && [[ $RA_ERR != *stale* ]]; echo $?)" \
    "taken for no record: written again, the marker not called stale"
tap_is "$(rec) $(sed -n 's/^since_ms=//p' "$ACTIVE")" "node1 $since" \
    "the record names this node, under the marker it had"
ra stop
receiver_stop
# a member that migrated to another standby VM (migrate_to wrote
# migrated_to= in its marker): started again here only while the record
# still names this node (its migrate_from never moved it)
printf 'instance=web\nnode=node1\nsince_ms=1\nmigrated_to=node2\n\n' > "$ACTIVE"
crm_attribute -t crm_config -s vcha-records -n vcha-active-web1 -D
ra start
tap_is "$RA_RC" 1 "container: start under a marker saying the member migrated, no record: fails"
tap_like "$RA_REASON" "member web1 migrated to node2 (its active marker says so) and no cluster property vcha-active-web1 names this node*" \
    "saying where it went ($RA_REASON)"
tap_is "$(running web1)/$(rec)" "STOPPED/" "nothing booted, no record written"
ra stop
ra monitor
tap_is "$RA_RC" 7 "monitor: not running"
rec_set node1
ra start
tap_is "$RA_RC" 0 "the record still naming this node (the migration never completed): started ($RA_REASON)"
tap_is "$(grep -c '^migrated_to=' "$ACTIVE")" 0 "the marker no longer says it migrated"
ra stop
# a member migrated in (migrated_from=): its restart starts the tree it
# serves from, whatever the sync marker says
cp "$ROOT.vcha-sync" "$work/sync-kept"
printf 'instance=web\nnode=node1\nsince_ms=1\nmigrated_from=node2\n\n' > "$ACTIVE"
sed -i 's/^state=complete$/state=incomplete/; s/^status=0$/status=23/' "$ROOT.vcha-sync"
ra start OCF_RESKEY_incomplete_sync=refuse
tap_is "$RA_RC" 0 "a member migrated in restarts, its sync marker history, not judged ($RA_REASON)"
tap_is "$(running web1)" RUNNING "the member runs"
tap_ok "$([[ $RA_ERR != *"did not complete"* ]]; echo $?)" "nothing said of the sync"
ra stop
sed -i '/^migrated_from=/d' "$ACTIVE"
ra start OCF_RESKEY_incomplete_sync=refuse
tap_is "$RA_RC" 1 "the same marker but for migrated_from: the sync state judged again, refused"
ra stop OCF_RESKEY_incomplete_sync=refuse
rm "$ROOT.vcha-sync"
ra start OCF_RESKEY_incomplete_sync=refuse
tap_is "$RA_RC" 0 "a marker of its own, never synced here (migrated in): a restart starts it ($RA_REASON)"
ra stop
mv "$work/sync-kept" "$ROOT.vcha-sync"
# a restore from another standby VM began here (restoring_from=): started
# only once the record names this node (the restore completed, and only
# the marker's rewrite was cut short)
printf 'instance=web\nnode=node1\nsince_ms=1\nrestoring_from=node2\n\n' > "$ACTIVE"
crm_attribute -t crm_config -s vcha-records -n vcha-active-web1 -D
ra start
tap_is "$RA_RC" 1 "container: start under a marker saying a restore began here, no record: fails"
tap_like "$RA_REASON" "member web1 began to be restored here from node2 and no cluster property vcha-active-web1 names this node*" \
    "saying so ($RA_REASON)"
tap_is "$(running web1)/$(rec)" "STOPPED/" "nothing booted, no record written"
ra stop
tap_is "$(sed -n 's/^restoring_from=//p' "$ACTIVE")" node2 "the stop keeps the marker"
rec_set node1
cp "$ROOT.vcha-sync" "$work/sync-kept"
sed -i 's/^state=complete$/state=incomplete/; s/^status=0$/status=23/' "$ROOT.vcha-sync"
ra start OCF_RESKEY_incomplete_sync=refuse
mv "$work/sync-kept" "$ROOT.vcha-sync"
tap_is "$RA_RC" 0 "the record naming this node (the restore completed): started, its sync marker not judged ($RA_REASON)"
tap_is "$(sed -n 's/^migrated_from=//p' "$ACTIVE")/$(grep -c '^restoring_from=' "$ACTIVE")" \
    "node2/0" "the marker says migrated_from=node2 now"
ra stop
# a marker whose last line was cut short may have lost what it said
printf 'instance=web\nnode=node1\nsince_ms=1\nmigrated_to=no' > "$ACTIVE"
ra start
tap_is "$RA_RC" 1 "container: start under a marker cut short: fails"
tap_like "$RA_REASON" "member web1: its active marker cannot be read (Bad message): not started over it" \
    "saying so ($RA_REASON)"
tap_is "$(running web1)/$(head -c 100 "$ACTIVE" | tail -1)" "STOPPED/migrated_to=no" \
    "nothing booted, the marker as it was"
ra stop
# the source of a migration whose checkpoint was restored on node2
# (MIGRATION_DIR/MEMBER/.consumed.d/ID says so): a record naming this
# node is older than the migration (a CIB put back from a copy)
MIG2=$work/migrate2
CONS=$MIG2/web1/.consumed.d
mkdir -p "$CONS"
mig_marker='instance=web\nnode=node1\nsince_ms=1\nmigrated_to=node2\ncheckpoint=1234\n\n'
printf "$mig_marker" > "$ACTIVE"
echo "restored node2" > "$CONS/1234"
ra start OCF_RESKEY_migration_dir="$MIG2"
tap_is "$RA_RC" 1 "container: start at a migration's source whose checkpoint was restored: fails"
tap_like "$RA_REASON" "member web1 migrated to node2, where its checkpoint 1234 was restored ($CONS/1234: restored node2): the cluster property vcha-active-web1 naming this node is older than that migration*" \
    "saying so ($RA_REASON)"
tap_is "$(running web1)" STOPPED "nothing booted"
ra stop OCF_RESKEY_migration_dir="$MIG2"
# another checkpoint restored since (a later migration): this one was not
rm "$CONS/1234"
echo "restored node2" > "$CONS/999"
cp "$ROOT.vcha-sync" "$work/sync-kept"
sed -i 's/^state=complete$/state=incomplete/; s/^status=0$/status=23/' "$ROOT.vcha-sync"
ra start OCF_RESKEY_migration_dir="$MIG2" OCF_RESKEY_incomplete_sync=refuse
tap_is "$RA_RC" 0 "its checkpoint not restored (the migration did not complete): started, its sync marker not judged ($RA_REASON)"
tap_is "$(cat "$CONS/1234")/$(cat "$CONS/999")" "given-up node1/restored node2" \
    "the checkpoint given up, the other one's entry kept: no migrate_from restores it once this tree moved on"
tap_is "$(grep -c '^migrated_to=\|^checkpoint=' "$ACTIVE")" 0 "the marker no longer says it migrated"
ra stop OCF_RESKEY_migration_dir="$MIG2"
# a start that gave the checkpoint up, cut short before its marker was
# rewritten: the next start finds its own give-up and goes on
printf "$mig_marker" > "$ACTIVE"
ra start OCF_RESKEY_migration_dir="$MIG2" OCF_RESKEY_incomplete_sync=refuse
tap_is "$RA_RC" 0 "a checkpoint given up before, the marker still saying it migrated: started ($RA_REASON)"
tap_is "$(cat "$CONS/1234")" "given-up node1" "the give-up as it was"
ra stop OCF_RESKEY_migration_dir="$MIG2"
mv "$work/sync-kept" "$ROOT.vcha-sync"

# ============================================================ migration
# What a live migration between two standby VMs refuses, played on one
# node, the container left running and active each time.  (CRIU runs in
# the lab only - see MACHINE-NOTES - so the migration itself, the member
# checkpointed and restored with its memory, is tests/lab/scenarios/
# 19-ctset-migrate.sh's.)
MIGDIR=$work/migrate
mig=(OCF_RESKEY_migration_dir="$MIGDIR")
ra start
tap_is "$RA_RC" 0 "container: started, to be migrated ($RA_REASON)"
ra migrate_to
tap_is "$RA_RC" 2 "migrate_to without a target: OCF_ERR_ARGS"
tap_like "$RA_REASON" "migrate_to without a target*" "saying so ($RA_REASON)"
ra migrate_to OCF_RESKEY_CRM_meta_migrate_target=node2
tap_is "$RA_RC" 1 "migrate_to another standby without migration_dir fails"
tap_like "$RA_REASON" "migration_dir is not set: member web1 cannot move to another standby VM*" \
    "naming the parameter ($RA_REASON)"
: > "$MIGDIR"
ra migrate_to OCF_RESKEY_CRM_meta_migrate_target=node2 "${mig[@]}"
tap_is "$RA_RC" 1 "migrate_to with migration_dir a file fails"
tap_like "$RA_REASON" "migration_dir: cannot make $MIGDIR/web1: *" "naming it ($RA_REASON)"
tap_is "$(running web1)" RUNNING "the member runs on"
ra monitor
tap_is "$RA_RC" 0 "and is active still: monitor succeeds"
rm -f "$MIGDIR" && mkdir "$MIGDIR"
# between standby VMs migrate_to never falls back to a stop: a
# migrate_from after it could find an older migration's checkpoint
mv "$STATE" "$work/state-kept"
ra migrate_to OCF_RESKEY_CRM_meta_migrate_target=node2 "${mig[@]}"
tap_is "$RA_RC" 1 "migrate_to another standby without a state file fails"
tap_is "$RA_REASON" "web is not active here as a container (its state file: No such file or directory): it cannot migrate to node2" \
    "saying so"
tap_is "$(running web1)" RUNNING "the member runs on: not stopped instead"
mv "$work/state-kept" "$STATE"
ra migrate_from "${mig[@]}"
tap_is "$RA_RC" 2 "migrate_from without a source: OCF_ERR_ARGS"
tap_like "$RA_REASON" "migrate_from without a source*" "saying so ($RA_REASON)"
ra migrate_from "${mig[@]}" OCF_RESKEY_CRM_meta_migrate_source=node2
tap_is "$RA_RC" 1 "migrate_from a node the record does not name fails"
tap_like "$RA_REASON" "member web1 is not active on node2 (cluster property vcha-active-web1: node1)" \
    "saying where it is ($RA_REASON)"
ra migrate_from "${mig[@]}" OCF_RESKEY_CRM_meta_migrate_source=node1
tap_is "$RA_RC" 1 "migrate_from with no checkpoint in migration_dir fails"
tap_like "$RA_REASON" "no checkpoint in $MIGDIR/web1 to migrate from" "saying so ($RA_REASON)"
tap_is "$(running web1) $(rec)" "RUNNING node1" "the member and the record untouched"
# a move to or from the primary is a stop and a start
ra migrate_to OCF_RESKEY_CRM_meta_migrate_target=vm1 "${mig[@]}"
tap_is "$RA_RC" 0 "migrate_to the primary ($RA_REASON)"
tap_like "$RA_ERR" "*web moves to vm1 by a stop here and a start there*" "by a stop"
tap_is "$(running web1)" STOPPED "the member is stopped"
tap_ok "$([ ! -e "$STATE" ]; echo $?)" "the state file is removed"
ra migrate_from "${mig[@]}" OCF_RESKEY_CRM_meta_migrate_source=vm1
tap_is "$RA_RC" 0 "migrate_from the primary: a start ($RA_REASON)"
tap_is "$(running web1)" RUNNING "the member runs"
ra stop
tap_is "$RA_RC" 0 "stopped"

# ============================================================ utilization
# measure_utilization: the resource web in the CIB (a Dummy that Pacemaker
# runs here, standing for it), node1's capacity, placement-strategy
util() { crm_resource -r web --utilization -g "$1" --quiet 2> /dev/null; }
# Wait (10 s at most) until web1's memory, as its cgroup counts it, is
# OP (-gt, -lt) BYTES.
member_memory_wait() {
    local _
    for _ in $(seq 1 50); do
        [ "$(lxc-cgroup -P "$LXCPATH" -n web1 memory.usage_in_bytes 2> /dev/null ||
            lxc-cgroup -P "$LXCPATH" -n web1 memory.current 2> /dev/null)" "$1" "$2" ] 2> /dev/null &&
            return 0
        sleep 0.2
    done
    return 1
}
cibadmin -C -o resources \
    -X '<primitive id="web" class="ocf" provider="pacemaker" type="Dummy"/>' &&
    crm_attribute -t crm_config -n placement-strategy -v utilization &&
    crm_attribute -N node1 -z -n memory -v 64 &&
    crm_attribute -N node1 -z -n cpu -v 4 ||
    tap_bail "cannot configure the utilization test"
measure=(OCF_RESKEY_measure_utilization=true)
ra start
tap_is "$RA_RC" 0 "container: started, to be measured ($RA_REASON)"
ra monitor "${measure[@]}"
tap_is "$RA_RC" 0 "monitor measuring ($RA_REASON)"
tap_is "$(util memory)" 16 "its memory utilization set: a few MiB measured, the 16 MiB step"
tap_like "$RA_ERR" "*memory utilization of web raised to 16 (*MiB measured, headroom 50%)*" \
    "saying what it measured"
tap_is "$(util cpu)" "" "no cpu figure from the first sample"
# a core kept busy in the member: 1 core measured, 2 with the headroom
rm -f "$ROOT/tmp/idle"
lxc-attach -P "$LXCPATH" -n web1 --clear-env -- /bin/sh -c \
    'while [ ! -e /tmp/idle ]; do :; done' > /dev/null 2>&1 < /dev/null &
sleep 1
ra monitor "${measure[@]}"
tap_is "$(util cpu)" "" "a monitor 1 s later takes no cpu figure: the window is 5 s at least"
sleep 5
ra monitor "${measure[@]}"
tap_is "$(util cpu)" 2 "6 s after the first sample: a busy core, 2 with the headroom"
tap_like "$RA_ERR" "*cpu utilization of web raised to 2 (*cores measured, headroom 50%)*" \
    "saying what it measured ($(grep -o '[0-9.]* cores measured' <<< "$RA_ERR"))"
touch "$ROOT/tmp/idle"
ra monitor "${measure[@]}"
tap_ok "$([[ $RA_ERR != *utilization* ]]; echo $?)" "unchanged, nothing written or said"
# 80 MB held in a shell variable in the member: 120 MiB with the headroom,
# more than node1's 64: the scheduler would stop web, so it is not raised
# (until /tmp/free exists: a shell that ran its last command would exec it)
rm -f "$ROOT/tmp/free"
lxc-attach -P "$LXCPATH" -n web1 --clear-env -- /bin/sh -c \
    'x=$(/bin/busybox head -c 80000000 /dev/zero | /bin/busybox tr "\0" a); while [ ! -e /tmp/free ]; do /bin/usleep 200000; done' \
    > /dev/null 2>&1 < /dev/null &
member_memory_wait -gt 80000000
ra monitor "${measure[@]}"
tap_is "$RA_RC" 0 "monitor with the member grown"
tap_is "$(util memory)" 16 "not raised past the only node's capacity"
tap_like "$RA_ERR" "*memory utilization of web not raised to * (*MiB measured): the scheduler would stop or move by a stop and a start web, no node having room for it otherwise*" \
    "a warning says why ($(grep -o 'not raised to [0-9]*' <<< "$RA_ERR"))"
crm_attribute -N node1 -z -n memory -v 1024
ra monitor "${measure[@]}"
m=$(util memory)
tap_cond "${m:-0} >= 112 && ${m:-0} <= 256" "room made: raised to $m (80 MB, its headroom)"
touch "$ROOT/tmp/free"
member_memory_wait -lt 40000000
ra monitor "${measure[@]}"
tap_is "$(util memory)" 16 "the member shrunk below half: lowered again"
ra stop
tap_is "$RA_RC" 0 "stopped"
tap_ok "$([ ! -e "$work/rsctmp/vcha-vcservice-web.usage" ]; echo $?)" "stop removes the sample"
cibadmin -D -o resources -X '<primitive id="web"/>' > /dev/null 2>&1

# ============================================================ ocf-tester
# ocf-tester (resource-agents) runs every action as Pacemaker would, in
# both modes.  It checks the meta-data against the OCF 1.0 DTD, which
# predates the select type incomplete_sync has: it is given the OCF 1.0
# view (conformance/ocf-1.0-view.xsl; conformance/metadata.sh checks the
# OCF 1.1 meta-data).  It runs meta-data as nobody: a copy nobody reaches.
if command -v ocf-tester > /dev/null && command -v xsltproc > /dev/null; then
    cp "$AGENT" "$work/vcservice-agent"
    cp "$top_srcdir/tests/conformance/ocf-1.0-view.xsl" "$work/view.xsl"
    cat > "$work/vcservice" << SH
#!/bin/sh
if [ "\$1" = meta-data ]; then
    "$work/vcservice-agent" meta-data | xsltproc "$work/view.xsl" -
    exit
fi
exec "$work/vcservice-agent" "\$@"
SH
    chmod 755 "$work/vcservice" "$work/vcservice-agent"
    chmod 644 "$work/view.xsl"
    HA_RSCTMP=$work/rsctmp ocf-tester -v -n web -o primary=node1 \
        -o member=web1 -o lxcpath="$LXCPATH" -o address=127.0.0.1 \
        -o ports="$PORT" \
        -o start_cmd="$BUSYBOX httpd -p 127.0.0.1:$PORT -h $work/primary/www" \
        -o stop_cmd="pkill -f ^$BUSYBOX.httpd.-p.127.0.0.1:$PORT" \
        -o sync_source="$work/primary" -o sync_target="$work/copy" \
        "$work/vcservice" > "$work/ot-native.out" 2>&1
    rc=$?
    sed 's/^/#  /' "$work/ot-native.out"
    tap_is "$rc" 0 "ocf-tester passes vcservice natively"
    port_open 127.0.0.1 "$PORT"
    tap_cond "$? != 0" "and leaves no service behind"
    HA_RSCTMP=$work/rsctmp ocf-tester -v -n web -o primary=vm1 \
        -o member=web1 -o lxcpath="$LXCPATH" -o address=198.18.251.10 \
        -o ports=8080 -o activate_cmd=/activate \
        -o deactivate_cmd="/bin/killall httpd" \
        "$work/vcservice" > "$work/ot-ct.out" 2>&1
    rc=$?
    sed 's/^/#  /' "$work/ot-ct.out"
    tap_is "$rc" 0 "ocf-tester passes vcservice in a member container"
    tap_is "$(running web1)" STOPPED "and leaves the container it booted stopped"
else
    tap_ok 1 "ocf-tester and xsltproc are installed (resource-agents, xsltproc)"
fi
tap_done
