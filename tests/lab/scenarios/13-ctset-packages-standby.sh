#!/bin/bash
# Scenario 13: an in-VM container set (seed 000) - the packages of a primary,
# and the loss of the standby VM.  The same service "web" as scenario 12
# (tests/lab/ctset-common.sh): natively on node1, member "web" hot on the
# standby VM node3.
#   1. a package installed on node1 (dpkg --root into the service's tree;
#      it leaves a setting in /etc/web.d that the tree's init reads when it
#      starts the server): the hot member is restarted and its server runs
#      with the package's setting; the package removed: restarted again,
#      the setting gone; the service on node1 never stopped;
#   2. node3 powered off: it is fenced; nothing on node1 is disturbed (web
#      stays there, the client is served by it all along, no failure is
#      recorded for web); the sync fails meanwhile and says so; what is
#      written meanwhile reaches node3 when it comes back: ctset brings the
#      member back, the sync resumes with a full push, the member serves
#      the newest data;
#   3. all along, web was active on one node at most.
set -u
here=$(cd "$(dirname "$0")/.." && pwd)
. "$here/../lib/tap.sh"
. "$here/common.sh"
. "$here/ctset-common.sh"

[ "$(id -u)" = 0 ] || tap_bail "the lab needs root"
P=$CS_P
S=$CS_S
work=$(mktemp -d)
t_start=$(now)
WATCH_PID=
trap '[ -n "$WATCH_PID" ] && kill "$WATCH_PID" 2> /dev/null; cs_cleanup; rm -rf "$work" "$SHARED/web-feature.deb"' EXIT

# the package: a setting for the server, nothing else
mkdir -p "$work/pkg/DEBIAN" "$work/pkg/etc/web.d"
printf '%s\n' 'Package: web-feature' 'Version: 2.0' 'Architecture: all' \
    'Maintainer: vcha lab <lab@lab.vcha.test>' 'Description: a setting for the lab web server' \
    > "$work/pkg/DEBIAN/control"
echo 'WEB_FEATURE=v2' > "$work/pkg/etc/web.d/feature.env"
dpkg-deb -b --root-owner-group "$work/pkg" "$work/web-feature.deb" > /dev/null ||
    tap_bail "dpkg-deb could not build the lab's package"

cs_begin
cp "$work/web-feature.deb" "$SHARED/web-feature.deb"
cs_ready 120
tap_ok $? "web runs natively on $P, its tree reached $S, the hot member answers"
tap_is "$(cs_who $CS_ADDR)" "served by web" "the member's server started without the feature"

# job: the health of vcservice's filesync job on P
job() { ex "$P" vchactl health web 2> /dev/null | sed -n "s/^$1=//p"; }
member_pid() { ex "$S" lxc-info -n web -p -H 2> /dev/null; }
# wait_who SECONDS ANSWER: until the member's CGI answers ANSWER
wait_who() {
    wait_for "$1" sh -c "ip netns exec vchalab-client curl -s --max-time 2 http://$CS_ADDR/cgi-bin/who |
        grep -qx '$2'"
}

# ------------------------------------------------------------ the watcher
# Where the cluster has web active (asked on node2, which stays up), and
# what the client gets from the native service, every 0.5 s.
(
    while :; do
        on=$(ex node2 crm_resource --locate -r web 2> /dev/null | grep -c 'running on')
        got=$(client curl -s --connect-timeout 1 --max-time 2 \
            "http://$(addr_of "$P")/cgi-bin/who" 2> /dev/null)
        echo "$(now) $on ${got:-none}"
        sleep 0.5
    done > "$work/watch"
) &
WATCH_PID=$!

# ------------------------------------------------------------ 1. packages
pid0=$(member_pid)
t0=$(now)
ex "$P" dpkg --root="$CS_TREE" -i /srv/shared/web-feature.deb > "$work/dpkg" 2>&1
tap_ok $? "1. web-feature installed into the service's tree on $P (dpkg --root)"
wait_who 120 "served by web feature v2"
tap_ok $? "the hot member runs the new package: served by web feature v2 ($(since "$t0" "$(now)") after the install)"
pid1=$(member_pid)
tap_cond "${pid1:-0} > 0 && ${pid1:-0} != ${pid0:-0}" "the member was restarted (init $pid0, then $pid1)"
tap_cond "$(grep -c 'member web: its package list changed; restarting it' \
    "$(node_log "$S" /var/log/pacemaker/pacemaker.log)") >= 1" \
    "ctset said why: its package list changed"
t0=$(now)
ex "$P" dpkg --root="$CS_TREE" -r web-feature > "$work/dpkg" 2>&1
tap_ok $? "web-feature removed from the tree on $P"
wait_who 120 "served by web"
tap_ok $? "the member restarted again, without it ($(since "$t0" "$(now)") after the removal)"
pid2=$(member_pid)
tap_cond "${pid2:-0} > 0 && ${pid2:-0} != ${pid1:-0}" "a new init again ($pid2)"
tap_is "$(started_on web)" "$P" "web kept running on $P"

# ------------------------------------------------------------ 2. standby lost
full0=$(job fig.full_pushes)
fails0=$(job fig.failures)
cs_writer
sleep 2
t0=$(now)
lab poweroff "$S" 2> /dev/null
wait_fenced 90 node1 "$S" "$t0"
tap_ok $? "2. $S powered off: fenced"
wait_for 60 sh -c "[ \"\$('$LAB' exec $P vchactl health web | sed -n 's/^state=//p')\" = failing ]"
tap_ok $? "the sync to $S fails meanwhile, and says so (state=failing)"
tap_cond "$(job fig.failures) > ${fails0:-0}" "the failure is counted"
ex "$P" sh -c "echo while-away > $CS_TREE/www/away"
wait_for 180 sh -c "'$LAB' exec node1 crm_mon -1 | grep -q 'Online: \[ node1 node2 node3 \]'"
tap_ok $? "$S came back and rejoined ($(since "$t0" "$(now)"))"
wait_for 180 sh -c "ip netns exec vchalab-client curl -s --max-time 2 http://$CS_ADDR/away | grep -qx while-away"
tap_ok $? "the member is back and serves what $P wrote while $S was away ($(since "$t0" "$(now)"))"
tap_cond "$(job fig.full_pushes) > ${full0:-0}" \
    "the sync resumed with a full push ($full0 full pushes before, $(job fig.full_pushes) after)"
wait_for 60 sh -c "[ \"\$('$LAB' exec $P vchactl health web | sed -n 's/^state=//p')\" = ok ]"
tap_ok $? "the job's state is ok again"
cs_hot
tap_ok $? "the member runs on $S"
ex "$P" pkill -f '[w]eb-writes'
sleep 1
last=$(ex "$P" cat "$CS_TREE/www/count")
wait_for 30 sh -c "[ \"\$(ip netns exec vchalab-client curl -s --max-time 2 http://$CS_ADDR/count)\" = '$last' ]"
tap_ok $? "the writer stopped: the member serves the newest count $P wrote ($last; it serves $(cs_count $CS_ADDR))"
wait_for 30 sh -c "[ \"\$('$LAB' exec $S vcha-receive --state $CS_SYNC/web/rootfs | sed -n 's/^state=//p')\" = complete ]"
tap_ok $? "the member's last batch completed"

kill "$WATCH_PID" 2> /dev/null
wait "$WATCH_PID" 2> /dev/null
WATCH_PID=
tap_is "$(started_on web)" "$P" "web stayed on $P"
fails=$(ex node1 crm_failcount --query -r web -N "$P" 2> /dev/null | sed -n 's/.*value=//p')
tap_is "${fails:-0}" 0 "no failure recorded for web on $P"
n=$(wc -l < "$work/watch")
tap_is "$(awk '$3 != "served" || $5 != "node1"' "$work/watch" | wc -l)" 0 \
    "in $n samples the client was always served by $P"
tap_is "$(awk '$2 > 1' "$work/watch" | wc -l)" 0 "and web was never active on two nodes"
tap_diag "scenario time: $(since "$t_start" "$(now)")"
tap_done
