#!/bin/bash
# Scenario 1: the node running a resource group (a web service and its DNS
# name, ocf:vcha:dnsswitch) loses power.  It is fenced, the group restarts
# elsewhere, the name follows and the client sees the service again; the
# fenced node comes back and rejoins.  The demo's second act: a container
# checkpointed by ocf:vcha:criuct comes back on another node after a
# power-off, with the state it had.  Then `lab down` leaves nothing behind.
set -u
here=$(cd "$(dirname "$0")/.." && pwd)
. "$here/../lib/tap.sh"
LAB=$here/lab

[ "$(id -u)" = 0 ] || tap_bail "the lab needs root"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

DEMO_TIMELINE=$work/timeline "$here/demo" > "$work/demo.out" 2>&1
rc=$?
sed 's/^/#  /' "$work/demo.out"
tap_is "$rc" 0 "the demo runs: lab up, group configured, power-off, recovery"
mapfile -t lines < "$work/timeline"
tap_is "${#lines[@]}" 6 "the timeline has every phase"
# Times as logged: membership, fencing, start and the DNS update follow one
# another; the client only needs the service started (it may see the new
# record a moment before dnsswitch, which checks it first, logs it).
t=()
for l in "${lines[@]}"; do
    t+=("$(awk '{ print $1 + 0 }' <<< "$l")")
done
ordered=$(awk -v a="${t[1]}" -v b="${t[2]}" -v c="${t[3]}" -v d="${t[4]}" \
    -v e="${t[5]}" 'BEGIN { print (0 < a && a <= b && b <= c && c <= d && c <= e) ? 0 : 1 }')
tap_is "$ordered" 0 "phases in order: membership, fencing, start, DNS; client after the start"
victim=$(sed -n 's/.*every process of \(node[0-9]*\) gone.*/\1/p' <<< "${lines[0]}")
new=$(sed -n 's/.*client: "served by \(node[0-9]*\)".*/\1/p' <<< "${lines[5]}")
tap_like "${lines[2]}" "*fenced: $victim*" "the powered-off node was fenced"
tap_ok $([ -n "$new" ] && [ "$new" != "$victim" ]; echo $?) \
    "the client is served by another node ($new, not $victim)"
tap_like "${lines[4]}" "*-> 198.18.0.$((10 + ${new#node}))*" "the DNS name follows the service"

# act two: ct1
ct=$(sed -n 's/.* ct1 restored on \(node[0-9]*\) from \(gen-[0-9]*\), .*/\1 \2/p' "$work/demo.out")
tap_like "$ct" "node* gen-*" "act two: ct1 restored on another node from a generation ($ct)"
hits=$(sed -n 's/.*memory only: \([0-9]*\) before, \([0-9]*\) now.*/\1 \2/p' "$work/demo.out")
tap_cond "$(awk '{ print $2 " == " $1 " + 1" }' <<< "$hits")" \
    "and its in-memory state kept: questions answered $hits"

for _ in $(seq 1 60); do
    "$LAB" exec "$new" crm_mon -1 2> /dev/null | grep -q "Online: \[ node1 node2 node3 \]" && break
    sleep 1
done
"$LAB" exec "$new" crm_mon -1 2> /dev/null | grep -q "Online: \[ node1 node2 node3 \]"
tap_ok $? "the fenced node was powered on again and rejoined"
"$LAB" exec "$new" stonith_admin --history "$victim" 2> /dev/null | grep -q "reboot of $victim successful"
tap_ok $? "the fence history records the reboot"

"$LAB" down > /dev/null 2>&1
tap_is "$?" 0 "lab down"
ip link show vchalab0 > /dev/null 2>&1
tap_is "$?" 1 "no lab bridge left"
tap_is "$(ip netns list | grep -c vchalab)" 0 "no lab network namespaces left"
tap_is "$(pgrep -fc 'vcha-lab|libvirtd --listen -f /etc/libvirt/libvirtd.conf')" 0 "no lab processes left"
tap_is "$(grep -c /var/lib/vcha-lab /proc/mounts)" 0 "no lab mounts left"
[ -e /run/vcha-lab ]
tap_is "$?" 1 "no lab runtime state left"
tap_done
