#!/bin/bash
# Scenario 4: a resource whose monitor starts failing is restarted in place,
# and moved to another node once it reaches its migration-threshold.
set -u
here=$(cd "$(dirname "$0")/.." && pwd)
. "$here/../lib/tap.sh"
. "$here/common.sh"

[ "$(id -u)" = 0 ] || tap_bail "the lab needs root"
work=$(mktemp -d)
trap 'ex node1 pcs resource delete flaky > /dev/null 2>&1; rm -rf "$work"' EXIT
locate() {
    ex node1 crm_resource --locate -r flaky 2> /dev/null |
        sed -n 's/.*running on: \(node[0-9]*\).*/\1/p' | head -1
}
failcount() {
    ex node1 crm_failcount --query -r flaky -N "$1" 2> /dev/null |
        sed -n 's/.*value=\([0-9]*\).*/\1/p'
}
# break the monitor: Dummy reports "not running" once its state file is gone
break_it() { ex "$1" sh -c 'rm -f /run/Dummy-flaky.state /var/run/Dummy-flaky.state'; }

lab up 3 > "$work/up.out" 2>&1 || { sed 's/^/#  /' "$work/up.out"; tap_bail "lab up failed"; }
ex node1 pcs resource delete flaky > /dev/null 2>&1
ex node1 pcs resource create flaky ocf:pacemaker:Dummy \
    meta migration-threshold=2 op monitor interval=2s > /dev/null
wait_for 60 sh -c "'$LAB' exec node1 crm_resource --locate -r flaky | grep -q 'running on'"
home=$(locate)
tap_like "$home" "node*" "flaky runs ($home)"

break_it "$home"
wait_for 30 sh -c "[ \"\$('$LAB' exec node1 crm_failcount --query -r flaky -N $home 2>/dev/null | sed -n 's/.*value=\([0-9]*\).*/\1/p')\" = 1 ]"
tap_ok $? "its first monitor failure is counted"
wait_for 30 sh -c "'$LAB' exec $home test -e /run/Dummy-flaky.state"
tap_is "$(locate)" "$home" "restarted in place, on $home"

break_it "$home"
wait_for 30 sh -c "[ \"\$('$LAB' exec node1 crm_failcount --query -r flaky -N $home 2>/dev/null | sed -n 's/.*value=\([0-9]*\).*/\1/p')\" = 2 ]"
tap_ok $? "the second failure reaches migration-threshold=2"
wait_for 30 sh -c "n=\$('$LAB' exec node1 crm_resource --locate -r flaky 2>/dev/null | sed -n 's/.*running on: \(node[0-9]*\).*/\1/p'); [ -n \"\$n\" ] && [ \"\$n\" != $home ]"
new=$(locate)
tap_ok $([ -n "$new" ] && [ "$new" != "$home" ]; echo $?) "flaky moved away from $home (to $new)"
tap_done
