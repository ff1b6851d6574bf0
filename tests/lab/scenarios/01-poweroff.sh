#!/bin/bash
# Scenario 1: the node running a resource group (a web service and its DNS
# name, ocf:vcha:dnsswitch) loses power.  It is fenced, the group restarts
# elsewhere, the name follows and the client sees the service again; the
# fenced node comes back and rejoins.  The demo's second act: a container
# checkpointed by ocf:vcha:criuct comes back on another node after a
# power-off, with the state it had.  Its third act: a service's VM powered
# off, the service back from its hot container on the standby VM, with the
# newest data.  Then `lab down` leaves nothing behind.
#
# The demo prints a timeline; each phase is checked here against the logs of
# the nodes that saw it and, for the name, against the DNS server itself.
# The demo runs on a lab that an earlier run left up: it must start anew.
set -u
here=$(cd "$(dirname "$0")/.." && pwd)
. "$here/../lib/tap.sh"
. "$here/common.sh"
. "$here/ctset-common.sh"

[ "$(id -u)" = 0 ] || tap_bail "the lab needs root"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Safe to run again: the demo starts on a new lab, whatever an earlier run
# left up; here a lab with a resource that has the name of the demo's own.
lab up 3 > "$work/up.out" 2>&1 || { sed 's/^/#  /' "$work/up.out"; tap_bail "lab up failed"; }
ex node1 cibadmin --query --xpath "//primitive[@id='web']" > /dev/null 2>&1 ||
    ex node1 pcs resource create web ocf:pacemaker:Dummy > /dev/null ||
    tap_bail "cannot leave a resource web in the lab"
DEMO_TIMELINE=$work/timeline DEMO_T0=$work/t0 "$here/demo" > "$work/demo.out" 2>&1
rc=$?
sed 's/^/#  /' "$work/demo.out"
tap_is "$rc" 0 "the demo runs: lab up, group configured, power-off, recovery"
t0=$(cat "$work/t0" 2> /dev/null)
[ -n "$t0" ] || tap_bail "the demo did not record its power-off"
mapfile -t lines < "$work/timeline"
victim=$(sed -n 's/.*every process of \(node[0-9]*\) gone.*/\1/p' <<< "${lines[0]:-}")
[ -n "$victim" ] || tap_bail "the demo's timeline names no victim"
# a phase the demo found in no log is printed with "?" for its time
tap_is "${#lines[@]} $(grep -c '^ *? ' "$work/timeline")" "6 0" \
    "the demo's timeline has its six phases, each timed from a log"

# ------------------------------------------------------------ the logs
# The client's time is the demo's own observation (power-off + its offset).
t_client=$(awk -v t="$t0" -v l="${lines[5]:-}" 'BEGIN { split(l, f, " "); v = f[1]
    sub(/s$/, "", v); if (v ~ /^[+-][0-9.]+$/) printf "%.6f", t + v }')
[ -n "$t_client" ] || t_client=$(now)
survivors=$(printf 'node1\nnode2\nnode3\n' | grep -vx "$victim")
# earliest PATTERN FILE: the first line matching PATTERN that a survivor
# logged between the power-off and the moment the client was served again,
# as "TIME NODE" (@ in PATTERN: the node's name)
earliest() {
    local n t
    for n in $survivors; do
        t=$(log_time "$t0" "$n" "$2" "${1//@/$n}")
        [ -n "$t" ] && echo "$t $n"
    done | sort -n | awk -v end="$t_client" '$1 <= end + 0.001' | head -1
}
read -r t_member _ <<< "$(earliest "A new membership .* Members left: ${victim#node}\$" /var/log/corosync/corosync.log)"
tap_ok "$([ -n "$t_member" ]; echo $?)" "corosync on the survivors formed a membership without $victim"
read -r t_fenced _ <<< "$(earliest "finalize_op.*targeting $victim .*OK" /var/log/pacemaker/pacemaker.log)"
tap_ok "$([ -n "$t_fenced" ]; echo $?)" "their fencer logged $victim fenced"
read -r t_start new <<< "$(earliest "Result of start operation for web on @: OK" /var/log/pacemaker/pacemaker.log)"
tap_like "${new:-}" "node[1-3]" "web started again on ${new:-no node} (its log)"
client_saw=$(sed -n 's/.*client: "served by \(node[0-9]*\)".*/\1/p' <<< "${lines[5]:-}")
tap_is "$client_saw" "${new:-?}" "the client was served by the node the cluster started web on"
# (dnsswitch checks the new record before it logs it: the client may see
# it a moment before the log line)
t_dns=$(log_time "$t0" "${new:-node0}" /var/log/pacemaker/pacemaker.log \
    "dnsswitch.*$NAME now points to $(addr_of "${new:-node0}") ")
tap_ok "$([ -n "$t_dns" ]; echo $?)" "dnsswitch on ${new:-?} logged $NAME pointing to $(addr_of "${new:-node0}")"
ordered=$(awk -v z="$t0" -v a="$t_member" -v b="$t_fenced" -v c="$t_start" \
    -v d="$t_dns" -v e="$t_client" 'BEGIN {
        if (a == "" || b == "" || c == "" || d == "") { print 1; exit }
        print (z < a && a <= b && b <= c && c <= d && c <= e) ? 0 : 1 }')
tap_is "$ordered" 0 "in order: power-off, membership, fencing, start, DNS; the client after the start"

# ------------------------------------------------------------ act two
home=$(sed -n 's/.* ct1 runs on \(node[0-9]*\) and answers.*/\1/p' "$work/demo.out")
ct=$(sed -n 's/.* ct1 restored on \(node[0-9]*\) from \(gen-[0-9]*\), .*/\1 \2/p' "$work/demo.out")
tap_like "$ct" "node* gen-*" "act two: ct1 restored from a generation ($ct)"
tap_ok "$([ -n "$home" ] && [ "${ct%% *}" != "$home" ]; echo $?)" \
    "on another node than the one powered off (${home:-?})"
hits=$(sed -n 's/.*memory only: \([0-9]*\) before, \([0-9]*\) now.*/\1 \2/p' "$work/demo.out")
tap_cond "$(awk '{ print $2 " == " $1 " + 1" }' <<< "$hits")" \
    "and its in-memory state kept: questions answered $hits"

# ------------------------------------------------------------ act three
served=$(sed -n 's/.* client: "\(served by [a-z0-9]*\)[^"]*", the count \([0-9?]*\) (node1 wrote \([0-9?]*\) last).*/\1 \2 \3/p' "$work/demo.out")
tap_like "$served" "served by web *" "act three: the client served by web's container after node1's power-off ($served)"
tap_cond "$(awk '{ print ($4 ~ /^[0-9]+$/ && $5 ~ /^[0-9]+$/ && $4 >= $5 - 10 && $4 <= $5) ? 1 : 0 }' <<< "$served") == 1" \
    "with the newest count node1 wrote, within the sync lag"
tap_is "$(grep -c '^ *? ' <<< "$(sed -n '/an in-VM container set/,$p' "$work/demo.out")")" 0 \
    "each of its phases timed from a log"

# ------------------------------------------------------------ afterwards
watcher=${survivors%%$'\n'*}
wait_for 60 sh -c "'$LAB' exec $watcher crm_mon -1 | grep -q 'Online: \[ node1 node2 node3 \]'"
tap_ok $? "the fenced node was powered on again and rejoined"
# (asked of each node: the demo's later acts power nodes off, and one that
# just rejoined may not have the cluster's history yet)
for n in node1 node2 node3; do
    ex "$n" stonith_admin --history "$victim" 2> /dev/null |
        grep -q "reboot of $victim successful" && break
done
tap_ok $? "the fence history records the reboot"
# its logs outlived the power-off, as on a disk: every boot in one file, and
# what pacemaker logged before the power-off still there after the reboot
boots=$(grep -c 'node-init: boot' "$LAB_LOGS/$victim/boot.log")
tap_cond "$boots >= 2" \
    "$victim's logs were kept across its power-off ($LAB_LOGS/$victim/boot.log: $boots boots)"
first=$(head -1 "$(node_log "$victim" /var/log/pacemaker/pacemaker.log)" | awk '{ print $1, $2, $3 }')
tap_ok "$([ -n "$first" ] && awk -v a="$(date -d "$first" +%s.%N)" -v b="$t0" \
    'BEGIN { exit !(a < b) }'; echo $?)" \
    "and its pacemaker.log begins before the power-off (${first:-empty})"
# The name follows the service, last into act three's container: asked of
# the DNS server itself (from the host, on the lab's bridge), against where
# the cluster says the group runs.
wait_for 30 sh -c "'$LAB' exec $watcher crm_mon -1 | grep -q 'web-dns.*Started'"
svc=$(started_on web)
answer=$(dig +short +time=2 +tries=2 @"$DNS" "$NAME" A 2> /dev/null)
tap_ok "$([ "$svc" = "$CS_S" ] && [ "$(started_on web-dns)" = "$svc" ] &&
    [ "$answer" = "$CS_ADDR" ]; echo $?)" \
    "the DNS server answers ${answer:-nothing} for $NAME: web's container on ${svc:-?}, where the group runs"

"$LAB" down > /dev/null 2>&1
tap_is "$?" 0 "lab down"
ip link show vchalab0 > /dev/null 2>&1
tap_is "$?" 1 "no lab bridge left"
tap_is "$(ip netns list | grep -c vchalab)" 0 "no lab network namespaces left"
tap_is "$(pgrep -fc 'vcha-lab|libvirtd --listen -f /etc/libvirt/libvirtd.conf')" 0 "no lab processes left"
tap_is "$(grep -c /var/lib/vcha-lab /proc/mounts)" 0 "no lab mounts left"
[ -e /run/vcha-lab ]
tap_is "$?" 1 "no lab runtime state left"
[ -s "$LAB_LOGS/$victim/pacemaker/pacemaker.log" ]
tap_ok $? "the nodes' logs stay after lab down ($LAB_LOGS), until the next lab up"
tap_done
