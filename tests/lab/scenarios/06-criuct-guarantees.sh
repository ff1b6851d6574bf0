#!/bin/bash
# Scenario 6: what ocf:vcha:criuct and vchad promise, under faults made on
# purpose (tests/lab/fault-rsync stands in for rsync on the nodes, and
# fails, hangs or samples only when told).
#   - a generation holds memory and files of one instant: a container that
#     rewrites a fixed-size file in place before each line of its log,
#     setting its mtime back each time (rsync's size and mtime never see a
#     change), checkpointed every second, never has an older file than its
#     log in a generation, nor an older file that it writes only through a
#     shared mapping (no file-change event), and each generation copied
#     while frozen only what changed since the copy made before the freeze;
#   - the freeze stops the whole container: its init moves into a cgroup
#     of its own below the container's, its workload stays; while a
#     checkpoint copies the files the workload writes nothing, and a live
#     migration restores memory and files that agree;
#   - a checkpoint hung on its store: at its timeout, at its job's removal
#     and at vchad's end, nothing of the run is left and the container runs,
#     thawed; one whose copy cannot even be killed holds the job's removal
#     until it dies, the container thawed meanwhile;
#   - CRIU stopped in the middle of a dump, its network lock taken: once
#     the checkpoint is killed, the lock is gone;
#   - a last checkpoint that fails in migrate_to: the container runs on,
#     thawed and checkpointed, and the migration fails;
#   - a checkpoint_interval of 13 h: vchad takes the job (one limit).
set -u
here=$(cd "$(dirname "$0")/.." && pwd)
. "$here/../lib/tap.sh"
. "$here/common.sh"
. "$here/ct-common.sh"

[ "$(id -u)" = 0 ] || tap_bail "the lab needs root"
work=$(mktemp -d)
NODES="node1 node2 node3"

fault() { # fault MODE WORD [FILE] | fault off: on every node
    local n
    for n in $NODES; do
        if [ "$1" = off ]; then
            ex "$n" rm -f "$FAULT/rsync"
        else
            ex "$n" sh -c "mkdir -p $FAULT && echo '$*' > $FAULT/rsync"
        fi
    done
}
cleanup() {
    local n
    for n in $NODES; do
        fault_remove "$n" > /dev/null 2>&1
        ex "$n" sh -c "for c in ct8 ct9; do lxc-stop -n \$c -k; done" > /dev/null 2>&1
    done
    for c in ct6 ct7; do
        ex node1 pcs resource delete "$c" > /dev/null 2>&1
    done
    rm -rf "$work" /var/lib/vcha-lab/shared/ckpt/ct[6-9]
}
trap cleanup EXIT

lab up 3 > "$work/up.out" 2>&1 || { sed 's/^/#  /' "$work/up.out"; tap_bail "lab up failed"; }
for n in $NODES; do
    fault_install "$n" || tap_bail "cannot put fault-rsync on $n"
done

# ------------------------------------------------------------ one instant
# ctload -D: /var/lib/db (4096 bytes, rewritten in place, its mtime set back
# each time) holds the counter before the log gets its line; in a
# generation of one instant the file holds the log's last line or the next.
# A file hard-linked from an older generation holds less.  ctload -M: the
# same counter in /var/lib/mapped, written only through a shared mapping
# (no event says it changed): the same must hold for it.
ct_use ct6
MKCT_FLAGS=db CT_KEEP=1000 ct_configure 1s 1 || tap_bail "cannot set up $CT"
home=$(ct_wait_on 60)
tap_like "$home" "node*" "$CT runs, checkpointed every second (on $home)"
wait_for 120 sh -c "[ \$(ls $HOST_STORE | grep -c '^gen-') -ge 40 ]"
tap_ok $? "40 generations committed"
# one limit for the job's timeout: an interval of 13 h (timeout 2 x 13 h
# would be beyond what vchad takes) reaches vchad
ex node1 pcs resource update "$CT" checkpoint_interval=13h > /dev/null
wait_for 30 sh -c "'$LAB' exec $home vchactl health $CT | grep -q '^interval_ms=46800000'"
tap_ok $? "checkpoint_interval=13h: vchad has the job"
tap_is "$(ex "$home" vchactl health "$CT" | sed -n 's/^timeout_ms=//p')" \
    86400000 "with a timeout of 24 h, vchad's limit"
ex node1 pcs resource delete "$CT" > /dev/null 2>&1
bad=0 badmap=0 all=0 linked=0 tracked=0
for g in $(gens); do
    d=$(head -c 15 "$HOST_STORE/$g/rootfs/var/lib/db" | sed 's/^0*//')
    m=$(head -c 15 "$HOST_STORE/$g/rootfs/var/lib/mapped" | sed 's/^0*//')
    l=$(tail -1 "$HOST_STORE/$g/rootfs/var/log/counter")
    all=$((all + 1))
    if [ "${d:-0}" != "$l" ] && [ "${d:-0}" != "$((l + 1))" ]; then
        bad=$((bad + 1))
        tap_diag "$g: the file holds ${d:-0}, the log ends at $l"
    fi
    if [ "${m:-0}" != "$l" ] && [ "${m:-0}" != "$((l + 1))" ]; then
        badmap=$((badmap + 1))
        tap_diag "$g: the mapped file holds ${m:-0}, the log ends at $l"
    fi
    grep -q '^figure recopied [1-9]' "$HOST_STORE/$g/MANIFEST" &&
        linked=$((linked + 1))
    grep -q '^figure rootfs_copy tracked' "$HOST_STORE/$g/MANIFEST" &&
        tracked=$((tracked + 1))
done
# the writes up to the freeze were caught by the watch, not by a copy of
# the whole tree while frozen
tap_cond "$tracked == $all" \
    "all $all copied while frozen only what changed since the copy before ($tracked)"
tap_cond "$all >= 40 && $bad == 0" \
    "each of $all generations holds the file and the log of one instant"
tap_cond "$all >= 40 && $badmap == 0" \
    "each of them holds the file written only through a shared map, of the same instant"
tap_cond "$linked >= $all / 2" \
    "$linked of them copied again the file rsync had linked (its inode changed)"

# ------------------------------------------------------------ the whole container
ct_use ct7
MKCT_FLAGS=scope ct_configure 2s 16 || tap_bail "cannot set up $CT"
home=$(ct_wait_on 60)
tap_like "$home" "node*" "$CT runs (on $home)"
init=$(ex "$home" lxc-info -n "$CT" -p -H)
load=$(ex "$home" pgrep -f "^/bin/ctload" | head -1)
ex "$home" grep -q "freezer:.*/lxc.payload.$CT/init.scope\$" "/proc/$init/cgroup"
tap_ok $? "its init moved into a cgroup of its own below the container's"
ex "$home" grep -q "freezer:.*/lxc.payload.$CT\$" "/proc/$load/cgroup"
tap_ok $? "its workload did not"
ex "$home" rm -f "$FAULT/rsync.samples"
# the copy while frozen: what changed since the copy made before the freeze,
# listed in a file in the checkpoint's scratch directory
fault samples "$CT-dump/catch-up" "/var/lib/lxc/$CT/rootfs/var/log/counter"
wait_for 30 sh -c "[ \$('$LAB' exec $home cat $FAULT/rsync.samples 2>/dev/null | wc -l) -ge 3 ]"
tap_ok $? "three checkpoints sampled the workload's log while copying it"
samples=$(ex "$home" cat "$FAULT/rsync.samples")
tap_is "$(sort -u <<< "$samples")" still \
    "the workload wrote nothing while the files were copied (frozen too)"
fault off
before=$(ct_ask "$home")
target=node1
[ "$home" = node1 ] && target=node2
ex node1 pcs resource move "$CT" "$target" > /dev/null 2>&1
new=$(ct_wait_on 60 "$home")
tap_is "$new" "$target" "live migration to $target"
after=$(ct_ask "$target")
tap_cond "$(field count "$after") > $(field count "$before")" \
    "it runs there ($before / $after)"
n=$(ct_log_check "$target")
tap_ok $? "memory and files agree (log 1..$n)"
ex node1 pcs resource delete "$CT" > /dev/null 2>&1

# ------------------------------------------------------------ a hung store
# ct8 on node1, checkpointed by a vchad job registered by hand: its copy
# into the stage hangs, as on a hung store
ct_use ct8
rm -rf "$HOST_STORE" && mkdir -p "$HOST_STORE"
ex node1 /usr/lib/vcha-lab/mkct "$CT" 16 && ex node1 lxc-start -n "$CT" &&
    ex node1 lxc-wait -n "$CT" -s RUNNING -t 30 || tap_bail "cannot start $CT"
job_add() { # job_add: the checkpoint job of ct8, timeout 8 s (programs: 6.4)
    ex node1 vchactl add checkpoint "$CT" container="$CT" lxcpath=/var/lib/lxc \
        store="$STORE" keep=2 compress=none interval_ms=0 timeout_ms=8000 \
        > /dev/null
}
hung() { # hung: the pid of the hung copy, once it hangs
    local i
    for ((i = 0; i < 200; i++)); do
        p=$(ex node1 tail -1 "$FAULT/rsync.pids" 2> /dev/null)
        [ -n "$p" ] && echo "$p" && return 0
        sleep 0.1
    done
    return 1
}
thawed() { [ "$(freezer_state node1)" = THAWED ]; }
# after_run PID WHAT: nothing of the run left (the hung copy PID, when
# given, is gone), the container thawed and running
after_run() {
    local a b
    if [ -n "$1" ]; then
        ex node1 sh -c "[ ! -e /proc/$1 ] || grep -q '^State:.*Z' /proc/$1/status"
        tap_ok $? "$2: the hung copy is gone"
    fi
    # a checkpoint of the job, when it is back, may be under way and hold
    # the container frozen for its dump: thawed within 10 s, as no
    # container left frozen would be
    wait_for 10 thawed
    st=$(freezer_state node1)
    if [ "$st" != THAWED ]; then
        ex node1 sh -c "p=\$(lxc-info -n $CT -p -H); echo init \$p;
            grep freezer /proc/\$p/cgroup; d=\$(sed -n 's/^[0-9]*:freezer://p' /proc/\$p/cgroup);
            cd /sys/fs/cgroup/freezer\${d%/init.scope} && grep . freezer.* && wc -l < tasks;
            for t in \$(cat tasks); do grep -h '^State' /proc/\$t/status; done | sort | uniq -c" 2>&1 |
            sed 's/^/#  /'
    fi
    tap_is "$st" THAWED "$2: the container is thawed${3:+ # TODO $3}"
    a=$(ct_ask node1)
    sleep 0.5
    b=$(ct_ask node1)
    tap_cond "$(field count "$b") > $(field count "$a")" \
        "$2: it runs ($a / $b)"
    # (a checkpoint of the job, when it is back, may be under way: its
    # stage goes with its commit)
    wait_for 10 sh -c "! ls -a $HOST_STORE | grep -q '^\.stage-'"
    tap_ok $? "$2: no stage left in the store"
    ex node1 sh -c "nsenter -t \$(lxc-info -n $CT -p -H) -n nft list tables 2>/dev/null | grep -c CRIU" \
        > "$work/locks"
    tap_is "$(cat "$work/locks")" 0 "$2: no CRIU network lock left"
}
ex node1 rm -f "$FAULT/rsync.pids"
fault hangs "$CT-dump/catch-up"
job_add
ex node1 vchactl run "$CT" > "$work/run" 2>&1
tap_is "$?" 1 "a checkpoint hung on its store fails"
tap_like "$(ex node1 vchactl health "$CT" | grep '^last_error=')" \
    "*rsync*" "and says so ($(ex node1 vchactl health "$CT" | grep '^last_error='))"
after_run "$(ex node1 tail -1 "$FAULT/rsync.pids")" "at its timeout"
# one whose copy cannot be killed (blocked in the kernel)
ex node1 rm -f "$FAULT/rsync.pids"
fault sticks "$CT-dump/catch-up"
ex node1 vchactl run "$CT" > /dev/null 2>&1 &
pid=$(hung)
tap_ok $? "another checkpoint sticks, unkillable"
ex node1 vchactl remove "$CT" grace_ms=500 > /dev/null 2>&1 &
rm_pid=$!
sleep 4
tap_is "$(freezer_state node1)" THAWED \
    "its job removed with a grace of 0.5 s: the container is thawed at once"
kill -0 "$rm_pid" 2> /dev/null
tap_ok $? "but the removal waits while the copy lives"
ex node1 sh -c "echo THAWED > /sys/fs/cgroup/freezer/vcha-fault/freezer.state"
wait_for 20 sh -c "! kill -0 $rm_pid 2> /dev/null"
tap_ok $? "once it can die, it does, and the removal returns"
wait
after_run "$pid" "once removed"
ex node1 rmdir /sys/fs/cgroup/freezer/vcha-fault 2> /dev/null
ex node1 rm -f "$FAULT/rsync.pids"
fault hangs "$CT-dump/catch-up"
job_add
ex node1 vchactl run "$CT" > /dev/null 2>&1 &
pid=$(hung)
vchad=$(ex node1 cat /run/vcha/vchad.sock.lock 2> /dev/null)
ex node1 kill -TERM "$vchad"
wait_for 20 sh -c "! '$LAB' exec node1 test -e /proc/$vchad"
tap_ok $? "vchad stops on SIGTERM with a checkpoint hung"
wait
after_run "$pid" "after vchad's end"
fault off

# CRIU stopped in the middle of its dump once it has locked the network;
# the run's programs are killed at its deadline, and the lock must go
nft_criu() { # nft_criu: the CRIU tables in ct8's network namespace
    ex node1 sh -c "nsenter -t \$(lxc-info -n $CT -p -H) -n nft list tables" > "$work/nft" ||
        return 1
    grep -c 'table inet CRIU-' "$work/nft"
}
tap_is "$(nft_criu)" 0 "no CRIU network lock before"
ex node1 vchactl start > /dev/null
job_add
ex node1 vchactl run "$CT" > /dev/null 2>&1 &
ex node1 sh -c "for i in \$(seq 1 1000); do
        ns=\$(lxc-info -n $CT -p -H) &&
            nsenter -t \$ns -n nft list tables | grep -q 'inet CRIU-' &&
            pkill -STOP -x criu && exit 0
        sleep 0.005
    done; exit 1"
tap_ok $? "CRIU stopped while it holds the container's network lock"
tap_is "$(nft_criu)" 1 "the lock is there"
wait
tap_is "$(nft_criu)" 0 "the checkpoint killed at its deadline: the lock is gone"
after_run "" "after CRIU was killed"
ex node1 pkill -CONT -x criu 2> /dev/null

# ------------------------------------------------------------ migrate_to
# its last checkpoint fails: the container is not left frozen nor killed
fault fails "/ckpt/$CT/.stage-"
out=$(ex node1 env OCF_ROOT=/usr/lib/ocf OCF_RESOURCE_INSTANCE="$CT" \
    OCF_RESKEY_container="$CT" OCF_RESKEY_checkpoint_dir="$STORE" \
    OCF_RESKEY_CRM_meta_timeout=60000 OCF_RESKEY_CRM_meta_migrate_target=node2 \
    /usr/lib/ocf/resource.d/vcha/criuct migrate_to 2>&1)
tap_is "$?" 1 "migrate_to whose last checkpoint fails: it fails"
tap_like "$out" "*last checkpoint of $CT failed*runs on here*" "saying so"
tap_is "$(ex node1 lxc-info -n "$CT" -s -H)" RUNNING "the container is not killed"
# migrate_to hands the container back to its job, which checkpoints it at
# once: that run meets the same fault, and must end before the fault does
# (a run that fails its copy before the freeze copies the whole tree while
# frozen, as it must, and one that began under the fault and finishes
# without it holds the freeze for that whole copy)
wait_for 60 sh -c "'$LAB' exec node1 vchactl health $CT | grep -q '^failures=[1-9]'"
tap_ok $? "the job's first run after it fails too ($(ex node1 vchactl health "$CT" | grep '^last_error=' | cut -c1-120))"
after_run "" "after the failed migrate_to and that run"
fault off
# registered again (vchactl health exits 1 while its last run failed)
ex node1 vchactl health "$CT" 2>&1 | grep -qx "id=$CT"
tap_ok $? "its checkpoint job is back"
ex node1 env OCF_ROOT=/usr/lib/ocf OCF_RESOURCE_INSTANCE="$CT" \
    OCF_RESKEY_container="$CT" OCF_RESKEY_checkpoint_dir="$STORE" \
    /usr/lib/ocf/resource.d/vcha/criuct stop > /dev/null 2>&1
tap_is "$?" 0 "stop"

tap_done
