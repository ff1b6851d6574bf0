#!/bin/bash
# Scenario 5: ocf:vcha:criuct.  A container whose init keeps a counter in
# memory, appends it to a log many times a second and answers on a TCP port
# with state held in memory only, is checkpointed every 2 s into a store of
# generations on the shared directory.
#   - power-off of its node: it comes back elsewhere from the newest
#     committed generation, memory and files of one instant;
#   - CRIU killed, vchad killed and a power-off, each in the middle of a
#     checkpoint: the previous good generation is what counts; vchad killed
#     is started again by the next monitor, the container running on;
#   - a corrupt newest generation is skipped, and the log says why;
#   - its init crashing: restarted in place, then moved (migration-threshold);
#   - live migration: downtime logged, nothing lost;
#   - monitor_cmd in an OCF_CHECK_LEVEL=20 monitor operation;
#   - bad input: clear errors, the store untouched;
#   - resource-agents' ocf-tester; then which monitors register a lost job
#     again, and a hung vchad judged by the store.
set -u
here=$(cd "$(dirname "$0")/.." && pwd)
. "$here/../lib/tap.sh"
. "$here/common.sh"
. "$here/ct-common.sh"

[ "$(id -u)" = 0 ] || tap_bail "the lab needs root"
work=$(mktemp -d)
trap 'ex node1 pcs resource delete $CT > /dev/null 2>&1
    for n in node1 node2 node3; do fault_remove $n; done
    rm -rf "$work"' EXIT

lab up 3 > "$work/up.out" 2>&1 || { sed 's/^/#  /' "$work/up.out"; tap_bail "lab up failed"; }
for n in node1 node2 node3; do # stands in for rsync; see tests/lab/fault-rsync
    fault_install "$n" || tap_bail "cannot put fault-rsync on $n"
done
ct_configure 2s 16 || tap_bail "cannot set up the container"

# ------------------------------------------------------------ it runs
home=$(ct_wait_on 60)
tap_like "$home" "node*" "criuct starts the container (on $home)"
a=$(ct_ask "$home")
sleep 1
b=$(ct_ask "$home")
tap_cond "$(field count "$b") > $(field count "$a")" "its counter advances ($a / $b)"
wait_for 20 sh -c "[ \$(ls $HOST_STORE | grep -c '^gen-') -ge 2 ]"
tap_ok $? "checkpoints appear in the store ($(gens | tr '\n' ' '))"
tap_cond "$(gens | wc -l) <= 3" "keep=3 generations at most"
grep -qs '^figure dumped_into scratch' $HOST_STORE/gen-*/MANIFEST
tap_ok $? "CRIU dumps into local scratch (memory)"
# with too little room there, straight into the stage, uncompressed (a run
# under way when the small file system appears may fail: the next counts)
ex "$home" mount -t tmpfs -o size=4m vcha-small /run/vcha/ct
wait_for 30 sh -c "grep -qs '^figure dumped_into store' $HOST_STORE/gen-*/MANIFEST"
tap_ok $? "with no room in scratch, straight into the store's stage"
g=$(grep -ls '^figure dumped_into store' "$HOST_STORE"/gen-*/MANIFEST | tail -1)
grep -q '^figure images raw' "$g"
tap_ok $? "uncompressed ($(basename "$(dirname "$g")"))"
ex "$home" umount /run/vcha/ct
ex "$home" vchactl status > "$work/status" 2>&1
tap_ok $? "vchactl status answers"
grep -q "$CT" "$work/status"
tap_ok $? "and lists the checkpoint job"
sed 's/^/#  /' "$work/status"
wait_for 20 sh -c "'$LAB' exec node1 crm_mon -1 -A | grep -q 'vcha-$CT-freeze-ms'"
tap_ok $? "crm_mon -A shows the checkpoint figures as node attributes"
n=$(ct_log_check "$home")
tap_ok $? "memory and files agree on $home (log 1..$n)"

# ------------------------------------------------------------ power-off
before=$(ct_ask "$home")
tq=$(date +%s%3N)
wait_for 30 frozen_after "$tq"
tap_ok $? "a checkpoint frozen after the question's answer ($(gens | tail -1))"
victim=$home
lab poweroff "$victim" 2> /dev/null
t0=$(now)
last=$(gens | tail -1)
cut=$(tail -1 "/var/lib/vcha-lab/$victim/upper$CT_LOG")
new=$(ct_wait_on 120 "$victim")
tap_like "$new" "node*" "after the power-off of $victim it runs on $new"
wait_for 20 sh -c "'$LAB' exec $new lxc-info -n $CT -s | grep -q RUNNING"
from=$(restored_from "$new")
tap_is "$from" "$last" "restored from the newest committed generation ($last)"
tap_is "$(ls -A "$HOST_STORE" | grep -c '^\.restore-')" 0 \
    "CRIU read its images through links that are gone after the restore"
at=$(gen_count "$last")
after=$(ct_ask "$new")
tap_cond "$(field count "$after") >= $at && $at <= $cut" \
    "its counter goes on from the generation's $at (<= $cut at the power-off): $after"
tap_is "$(field hits "$after")" "$(($(field hits "$before") + 1))" \
    "the TCP service kept its in-memory state (hits)"
n=$(ct_log_check "$new")
tap_ok $? "memory and files agree after the restore (log 1..$n)"
printf '#  failover: %s\n' "$(since "$t0" "$(now)")"

# ------------------------------------------------------------ mid-checkpoint
home=$new
# kill criu while it dumps: the checkpoint fails, the container runs on
wait_for 30 sh -c "ls -d $HOST_STORE/.stage-* > /dev/null 2>&1 && '$LAB' exec $home pkill -9 -x criu"
tap_ok $? "criu killed in the middle of a checkpoint"
sleep 1
a=$(ct_ask "$home")
sleep 0.5
b=$(ct_ask "$home")
tap_cond "$(field count "$b") > $(field count "$a")" "the container is not left frozen ($a / $b)"
# A checkpoint held in the middle (fault-rsync makes its copy hang), so
# that what follows surely cuts one: no generation may hold what it froze.
ms() { date +%s%3N; }
hold() { # hold NODE: the next checkpoint on NODE hangs (from now on)
    fault_install "$1" # (once more: the node may have rebooted)
    ex "$1" sh -c "rm -rf $FAULT && mkdir -p $FAULT && echo 'hangs /ckpt/$CT/.stage-' > $FAULT/rsync"
    wait_for 30 sh -c "'$LAB' exec $1 test -s $FAULT/rsync.pids" || return 1
    ex "$1" rm -f "$FAULT/rsync" # the checkpoints after it copy again
}
# never_committed BEFORE T: the generations committed since BEFORE (a list)
# were all frozen after T, when the held one was cut; one comes
never_committed() {
    local g f n=0
    wait_for 60 sh -c "[ -n \"\$(ls $HOST_STORE | grep '^gen-' | grep -vxF '$1')\" ]" ||
        return 1
    for g in $(gens | grep -vxF "$1"); do
        f=$(sed -n 's/^figure frozen_at //p' "$HOST_STORE/$g/MANIFEST")
        n=$((n + 1))
        if [ "${f:-0}" -le "$2" ]; then
            tap_diag "$g was frozen at $f, before the cut at $2"
            return 1
        fi
    done
    [ "$n" -gt 0 ]
}
# kill vchad (the daemon, not its worker) in the middle of one: the worker
# stops the copy and thaws the container; the next monitor starts vchad and
# registers the job again, and the container runs on, never restarted
hold "$home"
tap_ok $? "a checkpoint held in the middle on $home"
before=$(gens)
pid0=$(ex "$home" lxc-info -n "$CT" -p -H)
ex "$home" sh -c 'kill -9 $(cat /run/vcha/vchad.sock.lock)'
tap_ok $? "vchad killed in the middle of it"
t2=$(ms)
thawed() { [ "$(freezer_state "$1")" = THAWED ]; }
wait_for 10 thawed "$home"
tap_ok $? "its worker thawed the container"
# only a monitor registers the job again: nothing else adds it
wait_for 60 sh -c "'$LAB' exec $home vchactl status | grep -q $CT"
tap_ok $? "the next monitor starts vchad and registers the job again"
ex node1 crm_failcount --query -r "$CT" -N "$home" 2> /dev/null | grep -q 'value=0$'
tap_ok $? "and no monitor failed (fail count 0)"
tap_is "$(ex "$home" lxc-info -n "$CT" -p -H)" "$pid0" \
    "the container was not restarted (its init is still pid $pid0)"
tap_is "$(ct_where)" "$home" "and still runs on $home"
never_committed "$before" "$t2"
tap_ok $? "the checkpoint it cut never became a generation"
n=$(ct_log_check "$home")
tap_ok $? "memory and files agree after vchad came back (log 1..$n)"
# power-off in the middle of one: the stage is never restored
home=$(ct_wait_on 60)
hold "$home"
tap_ok $? "a checkpoint held in the middle on $home"
before=$(gens)
last=$(gens | tail -1)
victim=$home
lab poweroff "$victim" 2> /dev/null
t2=$(ms)
new=$(ct_wait_on 120 "$victim")
wait_for 20 sh -c "'$LAB' exec $new lxc-info -n $CT -s | grep -q RUNNING"
tap_is "$(restored_from "$new")" "$last" \
    "a power-off in the middle of a checkpoint: restored from $last, the last committed"
never_committed "$before" "$t2"
tap_ok $? "the checkpoint it cut never became a generation"
n=$(ct_log_check "$new")
tap_ok $? "memory and files agree (log 1..$n)"
home=$new

# ------------------------------------------------------------ corruption
wait_for 60 sh -c "'$LAB' exec node1 crm_mon -1 | grep -q 'Online: \[ node1 node2 node3 \]'"
ex node1 pcs resource disable "$CT" > /dev/null
wait_for 60 sh -c "[ -z \"\$('$LAB' exec node1 crm_resource --locate -r $CT 2>/dev/null | grep 'running on')\" ]"
tap_ok $? "disabled: stopped, with a last checkpoint"
newest=$(gens | tail -1)
prev=$(gens | tail -2 | head -1)
img=$(ls "$HOST_STORE/$newest/images" | grep '^pages' | head -1)
printf 'X' | dd of="$HOST_STORE/$newest/images/$img" bs=1 seek=100 conv=notrunc 2> /dev/null
ex node1 pcs resource enable "$CT" > /dev/null
home=$(ct_wait_on 60)
wait_for 20 sh -c "'$LAB' exec $home lxc-info -n $CT -s | grep -q RUNNING"
tap_is "$(restored_from "$home")" "$prev" "the corrupt $newest is skipped: restored from $prev"
ex "$home" grep "skipping $newest" /var/log/pacemaker/pacemaker.log > "$work/skip"
tap_ok $? "the log says why"
sed 's/^/#  /' "$work/skip"
n=$(ct_log_check "$home")
tap_ok $? "memory and files agree (log 1..$n)"

# ------------------------------------------------------------ crashes
ex node1 crm_resource --cleanup -r "$CT" > /dev/null 2>&1
sleep 3
home=$(ct_where)
ex "$home" sh -c "kill -9 \$(lxc-info -n $CT -p -H)"
wait_for 60 sh -c "'$LAB' exec node1 crm_failcount --query -r $CT -N $home | grep -q 'value=1'"
tap_ok $? "its init crashed: the failure is counted"
back=$(ct_wait_on 60)
tap_is "$back" "$home" "restarted in place, on $home"
sleep 3
ex "$home" sh -c "kill -9 \$(lxc-info -n $CT -p -H)"
new=$(ct_wait_on 60 "$home")
tap_like "$new" "node*" "crashed again: moved to $new after migration-threshold=2"
n=$(ct_log_check "$new")
tap_ok $? "memory and files agree (log 1..$n)"
ex node1 crm_resource --cleanup -r "$CT" > /dev/null 2>&1

# ------------------------------------------------------------ migration
sleep 3
home=$(ct_where)
target=node1
[ "$home" = node1 ] && target=node2
before=$(ct_ask "$home")
plog=/var/log/pacemaker/pacemaker.log
m0=$(ex "$home" sh -c "wc -l < $plog")
m1=$(ex "$target" sh -c "wc -l < $plog")
ex node1 pcs resource move "$CT" "$target" > /dev/null 2>&1
new=$(ct_wait_on 60 "$home")
tap_is "$new" "$target" "pcs resource move: live migration to $target"
ex "$home" tail -n +$((m0 + 1)) "$plog" > "$work/from.log"
ex "$target" tail -n +$((m1 + 1)) "$plog" > "$work/to.log"
grep -q "Result of migrate_to operation for $CT on $home: OK" "$work/from.log"
tap_ok $? "migrate_to ran on $home"
grep -q "Result of migrate_from operation for $CT on $target: OK" "$work/to.log"
tap_ok $? "migrate_from ran on $target"
grep "criuct.*state_age_ms=" "$work/to.log" | tail -1 | sed 's/^/#  /'
grep -q "criuct.*state_age_ms=" "$work/to.log"
tap_ok $? "the downtime (state_age_ms) of this migration is logged"
after=$(ct_ask "$target")
tap_is "$(field hits "$after")" "$(($(field hits "$before") + 1))" \
    "nothing lost: the in-memory state moved along"
n=$(ct_log_check "$target")
tap_ok $? "memory and files agree (log 1..$n)"
ex node1 pcs resource clear "$CT" > /dev/null 2>&1

# ------------------------------------------------------------ reload
pid0=$(ex "$target" lxc-info -n "$CT" -p -H)
ex node1 pcs resource update "$CT" checkpoint_interval=3s keep=4 > /dev/null
wait_for 30 sh -c "'$LAB' exec $target vchactl health $CT | grep -q '^interval_ms=3000'"
tap_ok $? "a new checkpoint_interval reaches vchad's job (reload-agent)"
tap_is "$(ex "$target" lxc-info -n "$CT" -p -H)" "$pid0" \
    "without restarting the container (its init is still pid $pid0)"

# ------------------------------------------------------------ deep monitor
# monitor_cmd in a monitor operation with OCF_CHECK_LEVEL=20, as an
# administrator configures it; on-fail=block keeps the failure in view.
sick=/var/lib/lxc/$CT/rootfs/tmp/sick
failed() { ex node1 crm_mon -1 | grep -q "Failed Resource Actions"; }
ex node1 pcs resource update "$CT" "monitor_cmd=/bin/busybox test ! -e /tmp/sick" > /dev/null
ex node1 pcs resource op add "$CT" monitor interval=4s timeout=30s \
    OCF_CHECK_LEVEL=20 on-fail=block > /dev/null
tap_ok $? "a monitor operation with OCF_CHECK_LEVEL=20 is added"
ex node1 crm_resource --wait --timeout=60 > /dev/null 2>&1
target=$(ct_wait_on 60)
sleep 9 # two runs of the deep monitor
! failed
tap_ok $? "the deep monitor passes while monitor_cmd succeeds (on $target)"
ex "$target" touch "$sick"
wait_for 30 sh -c "'$LAB' exec node1 crm_mon -1 | grep -q 'monitor_cmd failed'"
tap_ok $? "a failing monitor_cmd fails the deep monitor"
ex node1 crm_mon -1 | sed -n '/Failed Resource Actions/,$p' | sed 's/^/#  /'
ex "$target" rm -f "$sick"
ex node1 pcs resource cleanup "$CT" > /dev/null 2>&1
ex node1 crm_resource --wait --timeout=60 > /dev/null 2>&1
sleep 5 # a run of the deep monitor
! failed && [ "$(ct_where)" = "$target" ]
tap_ok $? "healthy again after a cleanup"
ex node1 pcs resource op remove "$CT" monitor interval=4s timeout=30s \
    OCF_CHECK_LEVEL=20 on-fail=block > /dev/null 2>&1 ||
    ex node1 pcs resource op remove "$CT-monitor-interval-4s" > /dev/null

# ------------------------------------------------------------ bad input
ex node1 pcs resource disable "$CT" > /dev/null
wait_for 60 sh -c "[ -z \"\$('$LAB' exec node1 crm_resource --locate -r $CT 2>/dev/null | grep 'running on')\" ]"
sums() { (cd "$HOST_STORE" && find . -type f | sort | xargs md5sum) | md5sum; }
s1=$(sums)
agent() { # agent NODE ACTION PARAM=VALUE...: the agent run by hand
    local n=$1 act=$2 env=()
    shift 2
    for kv in container=$CT checkpoint_dir=$STORE "$@"; do
        env+=("OCF_RESKEY_$kv")
    done
    ex "$n" env OCF_ROOT=/usr/lib/ocf OCF_RESOURCE_INSTANCE=bad \
        OCF_CHECK_LEVEL="${OCF_CHECK_LEVEL:-0}" "${env[@]}" \
        /usr/lib/ocf/resource.d/vcha/criuct "$act" 2>&1
}
out=$(agent node3 validate-all checkpoint_interval=0)
tap_is "$?" 6 "checkpoint_interval=0: OCF_ERR_CONFIGURED"
tap_like "$out" "*checkpoint_interval*" "naming the parameter"
out=$(agent node3 start container=nope)
tap_is "$?" 5 "a missing container: OCF_ERR_INSTALLED"
tap_like "$out" "*nope*" "naming it ($out)"
ex node3 sh -c "mkdir -p /srv/shared/ckpt/ro && mount --bind /srv/shared/ckpt/ro /srv/shared/ckpt/ro && mount -o remount,ro,bind /srv/shared/ckpt/ro"
out=$(OCF_CHECK_LEVEL=10 agent node3 validate-all checkpoint_dir=/srv/shared/ckpt/ro)
tap_is "$?" 4 "a store that is not writable: validate-all (level 10) says OCF_ERR_PERM"
tap_like "$out" "*not writable*" "saying so"
out=$(agent node3 start checkpoint_dir=/srv/shared/ckpt/ro)
tap_is "$?" 4 "and start refuses it (OCF_ERR_PERM)"
ex node3 lxc-info -n "$CT" -s | grep -q STOPPED
tap_ok $? "without starting the container"
ex node3 umount /srv/shared/ckpt/ro
# a store whose only generation is corrupt: latest refuses, cold boots
bad=/var/lib/vcha-lab/shared/ckpt/bad
rm -rf "$bad" && mkdir -p "$bad"
cp -a "$HOST_STORE/$(gens | tail -1)" "$bad/"
g=$(ls "$bad")
printf 'X' | dd of="$bad/$g/rootfs/var/log/counter" bs=1 seek=0 conv=notrunc 2> /dev/null
out=$(agent node3 start checkpoint_dir=/srv/shared/ckpt/bad)
tap_is "$?" 1 "restore_policy=latest with no generation that verifies: start fails"
tap_like "$out" "*no generation*verifies*" "saying why"
out=$(agent node3 start checkpoint_dir=/srv/shared/ckpt/bad restore_policy=cold)
tap_is "$?" 0 "restore_policy=cold boots the container instead"
# monitor_cmd runs inside the container at OCF_CHECK_LEVEL 20
out=$(OCF_CHECK_LEVEL=20 agent node3 monitor checkpoint_dir=/srv/shared/ckpt/bad \
    CRM_meta_interval=10000 "monitor_cmd=/bin/busybox test -s /var/log/counter")
tap_is "$?" 0 "monitor at level 20 runs monitor_cmd inside the container"
out=$(OCF_CHECK_LEVEL=20 agent node3 monitor checkpoint_dir=/srv/shared/ckpt/bad \
    CRM_meta_interval=10000 "monitor_cmd=/bin/busybox test -e /no/such/file")
tap_is "$?" 1 "and fails when monitor_cmd fails"
tap_like "$out" "*monitor_cmd failed*" "saying so"
agent node3 stop checkpoint_dir=/srv/shared/ckpt/bad > /dev/null
tap_is "$?" 0 "stop"
rm -rf "$bad"
sleep 1
tap_is "$(sums)" "$s1" "bad input changed nothing in the store"

ex node1 pcs resource delete "$CT" > /dev/null 2>&1

# ------------------------------------------------------------ ocf-tester
# resource-agents' ocf-tester, for real on node3: probes, start, stop,
# idempotence, migrate_to/migrate_from.  Its one expected complaint: the
# meta-data is OCF 1.1 (reloadable, select, reload-agent), which its
# ra-api-1.dtd predates; tests/conformance/metadata.sh checks it against
# the OCF 1.1 schema instead.
ex node3 /usr/lib/vcha-lab/mkct ct9 16 > /dev/null
rm -rf /var/lib/vcha-lab/shared/ckpt/ct9 && mkdir -p /var/lib/vcha-lab/shared/ckpt/ct9
ex node3 ocf-tester -n t9 -o container=ct9 -o checkpoint_dir=/srv/shared/ckpt/ct9 \
    -o checkpoint_interval=2s /usr/lib/ocf/resource.d/vcha/criuct > "$work/tester" 2>&1
sed 's/^/#  /' "$work/tester"
fails=$(grep '^\* rc=' "$work/tester")
tap_is "$(wc -l <<< "$fails")" 1 "ocf-tester finds one fault only"
tap_like "$fails" "*does not conform to ra-api-1.dtd*" "the OCF 1.1 meta-data against its OCF 1.0 DTD"
ls /var/lib/vcha-lab/shared/ckpt/ct9 | grep -q '^gen-'
tap_ok $? "its stop and migrate_to left generations in the store"
# its last action, migrate_from, started the container again
ex node3 lxc-info -n ct9 -s | grep -q RUNNING
tap_ok $? "ocf-tester's migrate_from left the container running"
t9() { # t9 ACTION VAR=VALUE...: the agent by hand, for ct9 on node3
    local act=$1
    shift
    ex node3 env OCF_ROOT=/usr/lib/ocf OCF_RESOURCE_INSTANCE=t9 \
        OCF_RESKEY_container=ct9 OCF_RESKEY_checkpoint_dir=/srv/shared/ckpt/ct9 \
        OCF_RESKEY_checkpoint_interval=2s "$@" \
        /usr/lib/ocf/resource.d/vcha/criuct "$act" 2>&1
}
# only a recurring monitor where it should run registers a lost job again:
# not a probe, not a monitor for role Stopped
ex node3 vchactl remove t9 > /dev/null 2>&1
t9 monitor OCF_RESKEY_CRM_meta_interval=0 > /dev/null
tap_is "$?" 0 "a probe finds ct9 running"
ex node3 vchactl health t9 > /dev/null 2>&1
tap_is "$?" 1 "and registers no job"
t9 monitor OCF_RESKEY_CRM_meta_interval=10000 OCF_RESKEY_CRM_meta_role=Stopped > /dev/null
tap_is "$?" 0 "a monitor for role Stopped finds it running"
ex node3 vchactl health t9 > /dev/null 2>&1
tap_is "$?" 1 "and registers no job either"
t9 monitor OCF_RESKEY_CRM_meta_interval=10000 > /dev/null
tap_is "$?" 0 "a recurring monitor finds it running"
ex node3 vchactl health t9 > /dev/null 2>&1
tap_is "$?" 0 "and registers the job again"
# a vchad that hangs: the monitor judges the checkpoints by the store
wait_for 30 sh -c "[ -n \"\$('$LAB' exec node3 vchactl health t9 | grep 'last_success=[1-9]')\" ]"
ex node3 sh -c 'kill -STOP $(cat /run/vcha/vchad.sock.lock)'
out=$(t9 monitor OCF_RESKEY_CRM_meta_interval=10000 OCF_RESKEY_CRM_meta_timeout=3000)
tap_is "$?" 0 "with vchad hung, a monitor passes while the store is fresh"
tap_like "$out" "*judging by the store*" "and says how it judged"
sleep 4
out=$(t9 monitor OCF_RESKEY_CRM_meta_interval=10000 OCF_RESKEY_CRM_meta_timeout=3000 \
    OCF_RESKEY_max_checkpoint_age=3s)
tap_is "$?" 1 "and fails once the store's newest generation is too old"
tap_like "$out" "*newest checkpoint is*old*" "saying so"
ex node3 sh -c 'kill -CONT $(cat /run/vcha/vchad.sock.lock)'
ex node3 env OCF_ROOT=/usr/lib/ocf OCF_RESOURCE_INSTANCE=t9 OCF_RESKEY_container=ct9 \
    OCF_RESKEY_checkpoint_dir=/srv/shared/ckpt/ct9 \
    /usr/lib/ocf/resource.d/vcha/criuct stop > /dev/null 2>&1
tap_is "$?" 0 "a stop after it"
ex node3 lxc-info -n ct9 -s | grep -q STOPPED
tap_ok $? "stops the container"
ex node3 vchactl health t9 > /dev/null 2>&1
tap_is "$?" 1 "and leaves vchad no job of it"
rm -rf /var/lib/vcha-lab/shared/ckpt/ct9
tap_done
