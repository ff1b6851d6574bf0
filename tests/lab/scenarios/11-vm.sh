#!/bin/bash
# Scenario 11: ocf:vcha:vm with QEMU guests under Pacemaker.  Each node runs
# a libvirtd of its own (tests/lab/node-libvirtd) driving QEMU under TCG;
# the guest (tests/vm/guest-build: a Debian kernel and a busybox init that
# counts in memory and on its disk, and answers on port 7000) sits on the
# node's bridge with an address of the lab network, its disk and kernel on
# the shared directory.
#   - QEMU from forky, driven by the nodes' libvirt;
#   - start, a probe (no restart), the guest reachable from the client;
#   - pcs resource move: a live migration, the guest's memory kept, its
#     downtime as libvirt measured it and as the client saw it;
#   - faults found by the health job (monitor at OCF_CHECK_LEVEL 10) and
#     recovered by Pacemaker: QEMU stopped (SIGSTOP), a kernel panic;
#   - libvirtd killed, and stopped (SIGSTOP), during monitors: the VM runs
#     on, no failure counted; stopped during a migration: migrate_to fails
#     in time, the stop ends QEMU without libvirt, the VM starts on the
#     target; no node fenced for any of it;
#   - its node powered off: the VM starts on another, its disk kept.
set -u
here=$(cd "$(dirname "$0")/.." && pwd)
. "$here/../lib/tap.sh"
. "$here/common.sh"
. "$here/../lib/guest.sh"

[ "$(id -u)" = 0 ] || tap_bail "the lab needs root"
. "$here/vm-common.sh"
work=$(mktemp -d)
cleanup() {
    ex node1 pcs resource delete $VM > /dev/null 2>&1
    vm_unprepare
    rm -rf "$work"
}
trap cleanup EXIT

lab up 3 > "$work/up.out" 2>&1 || { sed 's/^/#  /' "$work/up.out"; tap_bail "lab up failed"; }
ex node1 pcs resource delete $VM > /dev/null 2>&1
vm_prepare 2> "$work/prepare" || { sed 's/^/#  /' "$work/prepare"; tap_bail "cannot prepare the VM"; }

fences() { # successful fencings in node1's history, of any node
    ex node1 stonith_admin --history '*' 2> /dev/null | grep -c successful
}
failcount() {
    ex node1 crm_failcount --query -r $VM -N "$1" 2> /dev/null |
        sed -n 's/.*value=\([0-9A-Z]*\).*/\1/p'
}
# where: the node crm_mon shows the VM Started on (nothing while moving)
where() { started_on $VM; }
located() { ex node1 crm_resource --locate -r $VM 2> /dev/null | grep -q 'running on'; }
settled() { # settled: the VM Started somewhere, no failure counted there
    local h
    h=$(where)
    [ -n "$h" ] && [ "$(failcount "$h")" = 0 ] && answers
}
# clean: forget the VM's failures, and wait until it runs and answers;
# prints the node it runs on
clean() {
    ex node1 crm_resource --cleanup -r $VM > /dev/null 2>&1
    wait_for 120 settled
    where
}
failed_more() { # failed_more NODE N: more than N failures counted on NODE
    local f
    f=$(failcount "$1")
    [ -n "$f" ] && [ "$f" -gt "$2" ] 2> /dev/null
}
ups() { grep -c '^vcha-guest: up' "$VMDIR/console.log" 2> /dev/null || echo 0; }

# ------------------------------------------------------------ QEMU
v=$(ex node1 virsh -c qemu:///system version 2>&1)
tap_like "$v" "*hypervisor: QEMU 11.1*" \
    "the nodes' libvirt drives QEMU from forky ($(tr '\n' ' ' <<< "$v" | sed 's/  */ /g'))"

# ------------------------------------------------------------ start
ex node1 pcs resource create $VM ocf:vcha:vm config=/srv/shared/vm/$VM.xml \
    domain=$VM migration_transport=tcp hung_after=3s health_grace=4s \
    op start timeout=120s op stop timeout=40s \
    op monitor interval=5s timeout=20s OCF_CHECK_LEVEL=10 \
    op migrate_to timeout=40s op migrate_from timeout=40s \
    meta allow-migrate=true resource-stickiness=100 > "$work/create" 2>&1
tap_is "$?" 0 "pcs resource create $VM ocf:vcha:vm (allow-migrate, monitor at depth 10)"
wait_for 120 located
wait_for 120 answers
a=$(ask)
home=$(where)
tap_like "$a" "vcha-guest count=*" "it starts on ${home:-?}, and the client reaches the guest at $VM_ADDR ($a)"
[ -n "$home" ] || tap_bail "the VM did not start"
tap_ok "$([ -n "$(qemu_on "$home")" ]; echo $?)" "its QEMU runs on $home"
f0=$(fences)

# ------------------------------------------------------------ probe
ex node1 crm_resource --refresh -r $VM > /dev/null 2>&1
sleep 8
b=$(ask)
tap_is "$(where)" "$home" "a probe of every node (crm_resource --refresh): it stays on $home"
tap_cond "$(count "$b") > $(count "$a")" "not restarted: the count went on ($a / $b)"

# ------------------------------------------------------------ live migration
target=$(other_than "$home")
ups0=$(ups)
before=$(ask)
vm_watch "$work/watch"
t0=$(now)
ex node1 pcs resource move $VM "$target" > "$work/move" 2>&1
wait_for 120 is_on $VM "$target"
wait_for 30 answers
vm_watch_stop "$work/watch"
after=$(ask)
tap_is "$(where)" "$target" "pcs resource move $VM $target: it runs on $target ($(since "$t0" "$(now)"))"
qemu_gone "$home"
tap_ok $? "no QEMU of it left on $home"
tap_cond "$(count "$after") > $(count "$before")" \
    "live: the guest's memory came along, its count went on ($before / $after)"
tap_is "$(ups)" "$ups0" "and the guest did not boot again"
down=$(log_since "$t0" "$target" "$VM arrived: downtime" |
    tail -1 | sed -n 's/.*arrived: //p')
tap_like "$down" "downtime * ms*" "libvirt's figures, logged by migrate_from: ${down:-none}"
gap=$(vm_watch_gap "$work/watch")
tap_diag "migration downtime: libvirt: ${down:-?}; the client, asking every 0.1 s (3 s timeout): longest gap between answers ${gap} s"
ex node1 pcs resource clear $VM > /dev/null 2>&1
home=$target

# ------------------------------------------------------------ faults
# recovered FAULT T0 COUNT-BEFORE: Pacemaker counted a failure of the VM on
# $home, and the guest answers again, booted anew
recovered() {
    local what=$1 t0=$2 n=$3 t a
    wait_for 90 failed_more "$home" "$n"
    tap_ok $? "$what: the monitor failed, Pacemaker counted it ($(since "$t0" "$(now)"))"
    wait_for 180 answers
    a=$(ask)
    t=$(since "$t0" "$(now)")
    tap_like "$a" "vcha-guest count=*" "$what: recovered, the guest answers again on $(where) ($t; $a)"
    log_since "$t0" "$home" "$VM" |
        grep -E "vm\($VM\).*(error|warning)" | tail -2 | sed "s/^/#  /"
}
home=$(clean)
fc=0
qemu=$(qemu_on "$home")
t0=$(now)
ex "$home" kill -STOP $qemu
recovered "QEMU stopped (SIGSTOP) on $home" "$t0" "$fc"
ex "$home" kill -CONT $qemu 2> /dev/null
home=$(clean)
t0=$(now)
guest_cmd "$VMDIR" crash
recovered "a kernel panic (sysrq), reported by pvpanic" "$t0" 0
home=$(clean)

# ------------------------------------------------------------ libvirtd
fc=0
a=$(ask)
t0=$(now)
ex "$home" pkill -KILL -x libvirtd
sleep 12 # two monitors and more
b=$(ask)
tap_cond "$(count "$b") > $(count "$a")" "libvirtd killed on $home: the guest runs on ($a / $b)"
tap_is "$(failcount "$home")" "$fc" "no failure counted (the monitor sees its QEMU in /proc)"
log_since "$t0" "$home" "process runs here: running" | grep -q .
tap_ok $? "the monitor logs why"
ex "$home" /srv/shared/boot.d/50-libvirtd
tap_like "$(ex "$home" virsh -c qemu:///system domstate $VM 2>&1)" "running*" \
    "libvirtd started again: it finds $VM running"
ex "$home" pkill -STOP -x libvirtd
sleep 30 # a monitor's libvirt part (timeout 20 s) gives up after about 16 s
c=$(ask)
tap_cond "$(count "$c") > $(count "$b")" "libvirtd stopped (SIGSTOP) for 30 s: the guest runs on ($c)"
tap_is "$(failcount "$home")" "$fc" "no failure counted"
ex "$home" pkill -CONT -x libvirtd

# stopped during a migration: migrate_to fails in time, the stop ends QEMU
# without libvirt, and the VM starts on the target
target=$(other_than "$home")
ex "$home" pkill -STOP -x libvirtd
t0=$(now)
ex node1 pcs resource move $VM "$target" > "$work/move" 2>&1
wait_for 240 is_on $VM "$target"
tap_ok $? "libvirtd stopped on $home during pcs resource move: $VM runs on $target ($(since "$t0" "$(now)"))"
log_since "$t0" "$home" "migrate_to.*$VM|$VM.*migrate_to" |
    grep -m1 -E "gave no answer|did not end" > "$work/mig"
tap_ok $? "migrate_to failed in time, saying why: $(sed 's/.*ocf-exit-reason://' "$work/mig" | cut -c1-160)"
log_since "$t0" "$home" "destroying $VM without libvirt" | grep -q .
tap_ok $? "the stop on $home ended its QEMU without libvirt"
qemu_gone "$home"
tap_ok $? "no QEMU of it left on $home"
ex "$home" pkill -CONT -x libvirtd
wait_for 180 answers
tap_ok $? "the guest answers from $target"
tap_is "$(fences)" "$f0" "no node fenced for any of it"
home=$(clean)

# ------------------------------------------------------------ power-off
wait_for 30 answers
d0=$(count "$(ask)")
off=$(stat -c %s "$VMDIR/console.log")
t0=$(now)
lab poweroff "$home" 2> /dev/null
wait_fenced 120 "$(other_than "$home")" "$home" "$t0"
tap_ok $? "$home powered off: fenced"
wait_for 180 answers
a=$(ask)
new=$(where)
tap_ok "$([ -n "$new" ] && [ "$new" != "$home" ]; echo $?)" \
    "$VM started on ${new:-no node}, not $home ($(since "$t0" "$(now)"))"
kept=$(guest_wait "$VMDIR" "$off" '^vcha-guest: disk count=' 1 | sed 's/.*count=//')
tap_cond "${kept:-0} >= $d0" \
    "it booted with the count its disk kept (${kept:-none}; $d0 asked before the power-off)"
wait_for 120 sh -c "'$LAB' exec node1 crm_mon -1 | grep -q 'Online: \[ node1 node2 node3 \]'"
tap_ok $? "$home rejoined"

tap_done
