#!/bin/bash
# Scenario 3: cluster daemons die.  corosync killed on a node: the others
# fence it and it comes back.  pacemaker-controld killed on a node: the
# cluster recovers as Pacemaker intends.  The service stays available.
set -u
here=$(cd "$(dirname "$0")/.." && pwd)
. "$here/../lib/tap.sh"
. "$here/common.sh"

[ "$(id -u)" = 0 ] || tap_bail "the lab needs root"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
all_online() {
    wait_for 120 sh -c "'$LAB' exec $1 crm_mon -1 | grep -q 'Online: \[ node1 node2 node3 \]'"
}

lab up 3 > "$work/up.out" 2>&1 || { sed 's/^/#  /' "$work/up.out"; tap_bail "lab up failed"; }
configure
wait_for_page 60
tap_ok $? "the service is up"

# corosync dies on a node that does not run the service
svc=$(where)
target=$(printf 'node1\nnode2\nnode3\n' | grep -vx "$svc" | head -1)
watcher=$(printf 'node1\nnode2\nnode3\n' | grep -vx "$target" | head -1)
mark=$(now)
ex "$target" pkill -9 -x corosync
wait_fenced 60 "$watcher" "$target" "$mark"
tap_ok $? "corosync killed on $target: $target is fenced"
all_online "$watcher"
tap_ok $? "$target comes back and rejoins"
page | grep -q "served by"
tap_ok $? "the service was not disturbed"

# pacemaker-controld dies on the node that runs the service.  Pacemaker 3
# treats that as fatal: pacemakerd stops the node's cluster stack and stays
# down; the node leaves cleanly, so it is not fenced, and its resources move.
# (Pacemaker 2.1 respawns the controller instead.)  Either way the service
# must come back elsewhere, and an administrator's power cycle brings the
# node back.
svc=$(where)
watcher=$(printf 'node1\nnode2\nnode3\n' | grep -vx "$svc" | head -1)
ex "$svc" pkill -9 -f pacemaker-controld
sleep 3
settled=1
for _ in $(seq 1 120); do
    line=$(page)
    if [ -n "$line" ] && ! ex "$watcher" crm_mon -1 2> /dev/null | grep -q UNCLEAN; then
        settled=0
        break
    fi
    sleep 1
done
state=$(ex "$watcher" crm_mon -1 2> /dev/null | grep -E "OFFLINE|Online|UNCLEAN" | tr -s ' ' | tr '\n' ';')
tap_diag "after the controller of $svc died: $state"
tap_is "$settled" 0 "controld killed on $svc: the cluster settles with no node unclean"
tap_like "$line" "served by node*" "and the service is served ($line)"
lab poweroff "$svc" 2> /dev/null
lab poweron "$svc" 2> /dev/null
all_online "$watcher"
tap_ok $? "after a power cycle $svc rejoins"
tap_done
