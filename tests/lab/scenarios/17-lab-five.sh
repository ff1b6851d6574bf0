#!/bin/bash
# Scenario 17: the lab at its largest, five nodes (three primary VMs and two
# standby VMs of an in-VM container set need them), and back.
#   1. lab up with a node count outside 1..5 is refused, naming it;
#   2. lab up 5 on the three-node lab the scenarios before left: that lab
#      is taken down (its cluster knows three nodes), five nodes form one
#      cluster, fencing through the lab's libvirtd;
#   3. lab status gives each node's memory (the figures the README
#      quotes);
#   4. a node's plug pulled at five: it is fenced and rejoins;
#   5. lab up 3 again: the five-node lab taken down, three nodes run, and
#      nothing of node4 and node5 is left running.
set -u
here=$(cd "$(dirname "$0")/.." && pwd)
. "$here/../lib/tap.sh"
. "$here/common.sh"

[ "$(id -u)" = 0 ] || tap_bail "the lab needs root"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
online() { # online N: node1 lists exactly node1..nodeN online
    local want="" i
    for ((i = 1; i <= $1; i++)); do want+="node$i "; done
    ex node1 crm_mon -1 2> /dev/null | grep -q "Online: \[ $want\]"
}
inits() { pgrep -fc "/usr/lib/vcha-lab/node-init$"; }

lab up 3 > "$work/up.out" 2>&1 || { sed 's/^/#  /' "$work/up.out"; tap_bail "lab up failed"; }

out=$(lab up 6 2>&1)
rc=$?
tap_ok "$([ "$rc" -ne 0 ] && grep -q 'from 1 to 5, not "6"' <<< "$out"; echo $?)" \
    "lab up 6 is refused, naming the count ($out)"
tap_is "$(inits)" 3 "and the lab it was asked of runs on, untouched"

lab up 5 > "$work/up.out" 2>&1
rc=$?
tap_is "$rc" 0 "lab up 5 on the three-node lab"
[ "$rc" -eq 0 ] || sed 's/^/#  /' "$work/up.out"
tap_ok "$(grep -q 'a lab of 3 nodes runs: taking it down for one of 5' "$work/up.out"; echo $?)" \
    "it took the three-node lab down first, and said so"
tap_ok "$(ex node1 crm_mon -1 2> /dev/null | grep -q 'lab-fence.*Started'; echo $?)" \
    "with the lab's fencing device started"

lab status > "$work/status" 2>&1
sed 's/^/#  /' "$work/status" | head -6
mem=$(awk '/^node[1-5] / && / MiB$/ { print $(NF - 1) }' "$work/status")
total=$(awk '/^all / { print $(NF - 1) }' "$work/status")
tap_is "$(wc -w <<< "$mem")" 5 "lab status gives a memory figure for each of the five nodes"
tap_cond "$(awk '$1 >= 30 && $1 <= 1536 { n++ } END { print n + 0 }' <<< "$mem") == 5" \
    "each between 30 MiB and a node's 1536 MiB limit ($(echo $mem | sed 's/ / + /g') MiB)"
tap_diag "all five: $total MiB"

t0=$(now)
lab poweroff node5 2> /dev/null
survivor_fenced() {
    local n
    for n in node1 node2 node3 node4; do
        [ -n "$(log_time "$t0" "$n" /var/log/pacemaker/pacemaker.log \
            "finalize_op.*targeting node5 .*OK")" ] && return 0
    done
    return 1
}
wait_for 90 survivor_fenced
tap_ok $? "node5 powered off: fenced by a survivor"
wait_for 120 online 5
tap_ok $? "node5 rejoins: five nodes online again"

lab up 3 > "$work/up.out" 2>&1
rc=$?
tap_is "$rc" 0 "lab up 3 on the five-node lab"
[ "$rc" -eq 0 ] || sed 's/^/#  /' "$work/up.out"
tap_ok "$(online 3; echo $?)" "node1..node3 form the cluster"
var=${VCHA_LAB_VAR:-/var/lib/vcha-lab}
tap_is "$(inits) $(ls -d "$var/node4" "$var/node5" 2> /dev/null | wc -l)" "3 0" \
    "three nodes run; nothing of node4 and node5 is left, not even their disks"
tap_done
