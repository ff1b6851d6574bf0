#!/bin/bash
# Scenario 2: the node running the service is cut off from the other two.
# It loses quorum and is fenced by the majority, the service comes back on
# the majority side, and at no instant does it run on two nodes: that is
# sampled continuously on every node, not only checked at the end.
set -u
here=$(cd "$(dirname "$0")/.." && pwd)
. "$here/../lib/tap.sh"
. "$here/common.sh"

[ "$(id -u)" = 0 ] || tap_bail "the lab needs root"
work=$(mktemp -d)
trap 'rm -f "$work/run"; wait; rm -rf "$work"' EXIT

lab up 3 > "$work/up.out" 2>&1 || { sed 's/^/#  /' "$work/up.out"; tap_bail "lab up failed"; }
configure
wait_for_page 60
tap_ok $? "the service is up"
victim=$(where)
others=$(printf 'node1\nnode2\nnode3\n' | grep -vx "$victim" | tr '\n' ' ')
survivor=${others%% *}

# How many nodes run the web server, sampled until told to stop.
touch "$work/run"
(
    while [ -e "$work/run" ]; do
        n=0
        for node in node1 node2 node3; do
            ex "$node" pgrep -f "busybox httpd -f -p 80" > /dev/null 2>&1 && n=$((n + 1))
        done
        echo "$n"
    done > "$work/samples"
) &

mark=$(now)
lab partition "$victim" / $others 2> /dev/null
wait_fenced 120 "$survivor" "$victim" "$mark"
tap_ok $? "the cut-off node ($victim) is fenced by the majority"
for _ in $(seq 1 120); do
    line=$(page)
    [ -n "$line" ] && [ "$line" != "served by $victim" ] && break
    sleep 0.5
done
tap_like "$line" "served by node*" "the client is served again"
tap_ok $([ "$line" != "served by $victim" ]; echo $?) "from the majority side ($line)"
sleep 2
rm -f "$work/run"
wait
max=$(sort -n "$work/samples" | tail -1)
count=$(wc -l < "$work/samples")
tap_cond "count >= 10" "the web server was sampled on every node $count times"
tap_is "$max" 1 "never running on two nodes at once (most at one instant: $max)"

lab heal 2> /dev/null
wait_for 120 sh -c "'$LAB' exec $survivor crm_mon -1 | grep -q 'Online: \[ node1 node2 node3 \]'"
tap_ok $? "after the partition heals all three nodes are members again"
tap_done
