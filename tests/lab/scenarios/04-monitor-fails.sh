#!/bin/bash
# Scenario 4: a resource whose monitor starts failing is restarted in place,
# and moved to another node once it reaches its migration-threshold.  Then
# the lab itself: a lab up after a lab that was never taken down starts anew.
set -u
here=$(cd "$(dirname "$0")/.." && pwd)
. "$here/../lib/tap.sh"
. "$here/common.sh"

[ "$(id -u)" = 0 ] || tap_bail "the lab needs root"
work=$(mktemp -d)
# (a resource left failed and blocked is deleted only by force)
trap 'ex node1 pcs resource delete flaky > /dev/null 2>&1 ||
    ex node1 pcs resource delete flaky --force > /dev/null 2>&1; rm -rf "$work"' EXIT
failcount_is() { # failcount_is NODE N
    [ "$(ex node1 crm_failcount --query -r flaky -N "$1" 2> /dev/null |
        sed -n 's/.*value=\([0-9]*\).*/\1/p')" = "$2" ]
}
runs() { [ -n "$(started_on flaky)" ]; }
# break the monitor: Dummy reports "not running" once its state file is gone
break_it() { ex "$1" sh -c 'rm -f /run/Dummy-flaky.state /var/run/Dummy-flaky.state'; }
# started_again WHEN NODE: NODE logged a successful start of flaky at or
# after WHEN, crm_mon shows flaky started there (not failed), and Dummy's
# state file is back
started_again() {
    [ -n "$(log_time "$1" "$2" /var/log/pacemaker/pacemaker.log \
        "Result of start operation for flaky on $2: OK")" ] &&
        [ "$(started_on flaky)" = "$2" ] &&
        ex "$2" test -e /run/Dummy-flaky.state
}

lab up 3 > "$work/up.out" 2>&1 || { sed 's/^/#  /' "$work/up.out"; tap_bail "lab up failed"; }
ex node1 pcs resource delete flaky > /dev/null 2>&1
ex node1 pcs resource create flaky ocf:pacemaker:Dummy \
    meta migration-threshold=2 op monitor interval=2s > /dev/null
wait_for 60 runs
home=$(started_on flaky)
tap_like "$home" "node*" "flaky runs ($home)"

mark=$(now)
break_it "$home"
wait_for 30 failcount_is "$home" 1
tap_ok $? "its first monitor failure is counted"
wait_for 30 started_again "$mark" "$home"
tap_ok $? "restarted in place: started again on $home, and running there"

mark=$(now)
break_it "$home"
wait_for 30 failcount_is "$home" 2
tap_ok $? "the second failure reaches migration-threshold=2"
moved() {
    local n
    n=$(started_on flaky)
    [ -n "$n" ] && [ "$n" != "$home" ] && started_again "$mark" "$n"
}
wait_for 30 moved
tap_ok $? "flaky moved away from $home (to $(started_on flaky))"

# A lab whose lab down never ran (this machine lost power, the run was
# killed) leaves the nodes' disks with their CIBs; the next lab up starts a
# new cluster on fresh disks, not the old one.
var=${VCHA_LAB_VAR:-/var/lib/vcha-lab}
lab crash > /dev/null 2>&1
left=$(grep -l 'id="flaky"' "$var"/node[1-3]/upper/var/lib/pacemaker/cib/cib.xml 2> /dev/null | wc -l)
tap_is "$left" 3 "lab crash left the three nodes' disks, each CIB with flaky"
lab up 3 > "$work/up.out" 2>&1 || { sed 's/^/#  /' "$work/up.out"; tap_bail "lab up after lab crash failed"; }
res=$(ex node1 cibadmin --query --scope resources 2> /dev/null)
tap_is "$(grep -c '<resources' <<< "$res") $(grep -c 'id="flaky"' <<< "$res")" "1 0" \
    "the lab up after it started a new cluster: its CIB has no flaky"
tap_done
