#!/bin/bash
# Scenario 22: COLO replication started from a running primary
# (libcommon/colo/colorepl.c, driven by tests/colo/colorepl-run), on two
# lab nodes with the nodes' QEMU 11.1.2 under TCG, COLO's own traffic
# (the disk's NBD, the migration, the network filters) over the lab
# bridge.  The guest is the VM tests' (a counter in memory, printed on its
# console and served on port 7000 through each QEMU's host forward on its
# node's lab address).  QEMU runs with the command lines of
# libcommon/colo/coloqemu.c's two shapes.
#   1. a standalone primary boots on node1, a secondary waits on node2
#      with a disk of zeros: replication reaches COLO (the disk mirrored
#      while the guest runs, a short pause, the filters, the migration;
#      each phase timed), both report their COLO mode, and the secondary
#      runs the same guest (its console counts along, with no boot of its
#      own);
#   2. the primary's QEMU killed: the secondary takes over (nbd-server-stop,
#      x-colo-lost-heartbeat, the filters and chardevs removed) and the
#      guest goes on from its count in memory, no reset, serving through
#      node2's forward; the take-over timed from the kill;
#   3. a new primary on node1, a secondary on node3 without its migration
#      awaited: replication fails at the migration and undoes what it added
#      (no replication child, no block job, no COLO filter), the guest
#      still serving alone;
#   4. node3's secondary waiting for real: replication reaches COLO; the
#      secondary's QEMU killed: the primary goes on alone (unreplicate:
#      COLO left, the filters and the replication child removed), still
#      counting and serving.
set -u
here=$(cd "$(dirname "$0")/.." && pwd)
. "$here/../lib/tap.sh"
. "$here/common.sh"
. "$here/colo-common.sh"

[ "$(id -u)" = 0 ] || tap_bail "the lab needs root"
work=$(mktemp -d)
t_start=$(now)
RUNDIR=/run/colo22      # on each node: QMP sockets, overlays
BASE=9300
QUORUM=driver=quorum,read-pattern=fifo,vote-threshold=1

colo_cleanup() {
    local n
    for n in node1 node2 node3; do
        ex $n sh -c "pkill -9 -f 'guest=colo22-'; rm -rf $RUNDIR" > /dev/null 2>&1
    done
}
colo_begin colo22
tap_diag "$(ex node1 qemu-system-x86_64 --version | head -1)"

# qemu NODE NAME SHAPE-ARGS...: a daemonized QEMU of the common shape
qemu() {
    local node=$1 name=$2
    shift 2
    ex "$node" sh -c "mkdir -p $RUNDIR && exec qemu-system-x86_64 \
        -name guest=colo22-$name,debug-threads=on -accel tcg -cpu qemu64 \
        -m 128 -smp 1 -display none -nodefaults -no-user-config \
        -device pvpanic -msg timestamp=on -daemonize \
        -pidfile $RUNDIR/$name.pid -D $NDIR/$name.log \
        -chardev file,id=serial0,path=$NDIR/$name.serial,append=on \
        -serial chardev:serial0 \
        -qmp unix:path=$RUNDIR/$name.qmp,server=on,wait=off \
        -netdev user,id=hn0,hostfwd=tcp:$(addr_of "$node"):17000-10.0.2.15:7000 \
        -device virtio-net-pci,netdev=hn0,romfile= \
        -kernel $NDIR/vmlinuz -initrd $NDIR/initramfs.gz -append '$APPEND' $*"
}
primary() { # primary NODE NAME: standalone, booting
    truncate -s 16M "$DIR/$2.raw"
    qemu "$1" "$2" -drive "if=virtio,id=colo-disk0,$QUORUM,children.0.driver=raw,children.0.file.filename=$NDIR/$2.raw"
}
secondary() { # secondary NODE NAME: waiting, its disk zeros
    local a
    a=$(addr_of "$1")
    truncate -s 16M "$DIR/$2.raw"
    ex "$1" sh -c "mkdir -p $RUNDIR/ah && qemu-img create -q -f qcow2 $RUNDIR/ah/active.qcow2 16M &&
        qemu-img create -q -f qcow2 $RUNDIR/ah/hidden.qcow2 16M" || return 1
    qemu "$1" "$2" \
        -chardev "socket,id=mirror0,host=$a,port=$((BASE + 2)),server=on,wait=off,nodelay=on" \
        -chardev "socket,id=compsec0,host=$a,port=$((BASE + 3)),server=on,wait=off,nodelay=on" \
        -object filter-redirector,id=f1,netdev=hn0,queue=tx,indev=mirror0 \
        -object filter-redirector,id=f2,netdev=hn0,queue=rx,outdev=compsec0 \
        -object filter-rewriter,id=rew0,netdev=hn0,queue=all \
        -drive "if=none,id=parent0,driver=raw,file.filename=$NDIR/$2.raw" \
        -drive "if=none,id=childs0,driver=replication,mode=secondary,file.driver=qcow2,top-id=colo-disk0,file.file.filename=$RUNDIR/ah/active.qcow2,file.backing.driver=qcow2,file.backing.file.filename=$RUNDIR/ah/hidden.qcow2,file.backing.backing=parent0" \
        -drive "if=virtio,id=colo-disk0,$QUORUM,children.0=childs0" -incoming defer
}
qmp() { ex "$1" "$RUNNER" qmp "$RUNDIR/$2.qmp" "${@:3}"; } # qmp NODE NAME COMMAND [ARGS]
colo_mode() { qmp "$1" "$2" query-colo-status 2> /dev/null | field mode; }
run_state() { qmp "$1" "$2" query-status 2> /dev/null | field status; }
secondary_wait() { # secondary_wait NODE NAME [no-migration]
    local a
    a=$(addr_of "$1")
    qmp "$1" "$2" migrate-set-capabilities \
        '{"capabilities":[{"capability":"return-path","state":true},{"capability":"x-colo","state":true}]}' > /dev/null &&
        qmp "$1" "$2" nbd-server-start "{\"addr\":{\"type\":\"inet\",\"data\":{\"host\":\"$a\",\"port\":\"$BASE\"}}}" > /dev/null &&
        qmp "$1" "$2" nbd-server-add '{"device":"parent0","writable":true}' > /dev/null || return 1
    [ "${3:-}" = no-migration ] && return 0
    qmp "$1" "$2" migrate-incoming "{\"uri\":\"tcp:$a:$((BASE + 1))\"}" > /dev/null
}
count_of() { # the last count on a console
    tr -d '\r' < "$DIR/$1.serial" 2> /dev/null | sed -n 's/^vcha-guest: count=\([0-9]*\).*/\1/p' | tail -1
}
boots() { tr -d '\r' < "$DIR/$1.serial" 2> /dev/null | grep -c "Linux version"; }
wait_count() { # wait_count NAME N SECONDS: its console reaches count N
    local i c
    for ((i = 0; i < $3 * 4; i++)); do
        c=$(count_of "$1")
        [ -n "$c" ] && [ "$c" -ge "$2" ] && return 0
        sleep 0.25
    done
    return 1
}
ask() { client timeout 6 bash -c "exec 3<> /dev/tcp/$1/17000 && head -1 <&3" 2> /dev/null | tr -d '\r'; }
ask_count() { ask "$1" | sed -n 's/^vcha-guest count=\([0-9]*\).*/\1/p'; }

# --- 1. replication from a running primary
primary node1 a || tap_bail "the primary did not start"
secondary node2 b || tap_bail "the secondary did not start"
secondary_wait node2 b || tap_bail "the secondary's QMP set-up failed"
wait_count a 3 90
tap_ok $? "1. a standalone primary boots on node1 and counts"
tap_like "$(ask "$(addr_of node1)")" "vcha-guest count=*" "it serves through node1's forward"
t0=$(now)
phases=$(ex node1 "$RUNNER" replicate "$RUNDIR/a.qmp" "$(addr_of node2)" $BASE $RUNDIR 2000 120 2> "$work/err")
rc=$?
t_repl=$(now)
tap_is "$rc" 0 "replication from the running primary towards node2 reaches COLO"
[ "$rc" = 0 ] || sed 's/^/#  /' "$work/err"
tap_diag "phases: $phases; in all $(since "$t0" "$t_repl")"
tap_is "$(colo_mode node1 a)" primary "node1's QEMU is the COLO primary"
tap_is "$(colo_mode node2 b)" secondary "node2's is the COLO secondary"
before=$(count_of a)
sleep 10
tap_is "$(run_state node1 a)/$(colo_mode node1 a)" running/primary "10 s on: the primary runs, still in COLO"
tap_is "$(run_state node2 b)/$(colo_mode node2 b)" running/secondary "and the secondary too"
sc=$(count_of b)
tap_ok "$([ -n "$sc" ] && [ "$sc" -gt "$before" ]; echo $?)" \
    "the secondary runs the same guest: its console counts along ($sc, the primary's was $before when COLO began)"
tap_is "$(boots b)" 0 "and it never booted one of its own"

# --- 2. the primary lost: the secondary takes over
# overlays_in NODE NAME: 0 when an overlay is a node of QEMU's block
# graph, 1 when none is, 2 when the graph cannot be read
overlays_in() {
    local nodes
    nodes=$(qmp "$1" "$2" query-named-block-nodes '{"flat":true}' 2> /dev/null) || return 2
    [ -n "$nodes" ] || return 2
    # (json-c writes "/" as "\/")
    echo "$nodes" | sed 's|\\/|/|g' | grep -q "\"file\": *\"$RUNDIR/ah/\(active\|hidden\)\.qcow2\""
}
overlays_in node2 b
tap_is $? 0 "the secondary's overlays are in its block graph"
last=$(count_of a)
t0=$(now)
ex node1 sh -c "kill -9 \$(cat $RUNDIR/a.pid)"
ok=0
for step in nbd-server-stop x-colo-lost-heartbeat; do
    qmp node2 b "$step" > /dev/null 2>> "$work/err" || ok=1
done
for id in f2 f1; do qmp node2 b object-del "{\"id\":\"$id\"}" > /dev/null 2>&1; done
for id in compsec0 mirror0; do qmp node2 b chardev-remove "{\"id\":\"$id\"}" > /dev/null 2>&1; done
t_over=$(now)
tap_is "$ok" 0 "2. the primary's QEMU killed: the secondary takes over"
tap_diag "take-over done $(since "$t0" "$t_over") after the kill"
gone=1
for _ in $(seq 1 100); do
    overlays_in node2 b
    [ $? = 1 ] && gone=0 && break
    sleep 0.1
done
tap_is "$gone" 0 "the failover commits the overlays into the disk: they leave the block graph"
tap_is "$(run_state node2 b)/$(colo_mode node2 b)" running/none "it runs alone"
wait_count b $((last + 3)) 30
tap_ok $? "the guest goes on counting on node2 (past $last, the primary's last)"
tap_is "$(boots b)" 0 "from its memory: no boot, no reset"
n=$(ask_count "$(addr_of node2)")
tap_ok "$([ -n "$n" ] && [ "$n" -gt "$last" ]; echo $?)" \
    "it serves through node2's forward, its count ($n) past the primary's last ($last)"
ex node2 sh -c "kill -9 \$(cat $RUNDIR/b.pid)" > /dev/null 2>&1

# --- 3. replication that fails at the migration undoes what it added
primary node1 c || tap_bail "the second primary did not start"
secondary node3 d || tap_bail "node3's secondary did not start"
secondary_wait node3 d no-migration || tap_bail "node3's QMP set-up failed"
wait_count c 3 90
tap_ok $? "3. a new primary counts on node1"
ex node1 "$RUNNER" replicate "$RUNDIR/c.qmp" "$(addr_of node3)" $BASE $RUNDIR 2000 60 > /dev/null 2> "$work/err"
tap_is "$?" 1 "replication towards a secondary not awaiting the migration fails"
tap_like "$(cat "$work/err")" "*migrat*" "at the migration ($(head -c 200 "$work/err"))"
tap_is "$(qmp node1 c query-block-jobs)" "[]" "no block job is left"
tap_ok "$(qmp node1 c query-named-block-nodes | grep -q replication0 && echo 1 || echo 0)" \
    "no replication node is left on the disk"
tap_ok "$(qmp node1 c qom-list '{"path":"/objects"}' | grep -q '"comp0"\|"m0"\|"redire0"' && echo 1 || echo 0)" \
    "no COLO filter or compare is left"
c1=$(count_of c)
tap_is "$(run_state node1 c)/$(colo_mode node1 c)" running/none "the guest runs on alone"
wait_count c $((c1 + 2)) 20
tap_ok $? "still counting"

# --- 4. the secondary lost: the primary goes on alone
qmp node3 d migrate-incoming "{\"uri\":\"tcp:$(addr_of node3):$((BASE + 1))\"}" > /dev/null
phases=$(ex node1 "$RUNNER" replicate "$RUNDIR/c.qmp" "$(addr_of node3)" $BASE $RUNDIR 2000 120 2> "$work/err")
rc=$?
tap_is "$rc" 0 "4. the same primary replicates to node3 once it waits: COLO ($phases)"
[ "$rc" = 0 ] || sed 's/^/#  /' "$work/err"
tap_is "$(colo_mode node3 d)" secondary "node3's QEMU is the secondary"
sleep 3
ex node3 sh -c "kill -9 \$(cat $RUNDIR/d.pid)"
t0=$(now)
ex node1 "$RUNNER" unreplicate "$RUNDIR/c.qmp" 30 2> "$work/err"
rc=$?
t_alone=$(now)
tap_is "$rc" 0 "the secondary's QEMU killed: the primary leaves COLO"
[ "$rc" = 0 ] || sed 's/^/#  /' "$work/err"
tap_diag "primary alone $(since "$t0" "$t_alone") after the kill"
tap_is "$(run_state node1 c)/$(colo_mode node1 c)" running/none "it runs alone"
tap_ok "$(qmp node1 c query-named-block-nodes | grep -q replication0 && echo 1 || echo 0)" \
    "its disk has no replication child left"
c1=$(count_of c)
wait_count c $((c1 + 3)) 30
tap_ok $? "and goes on counting"
n=$(ask_count "$(addr_of node1)")
tap_ok "$([ -n "$n" ] && [ "$n" -ge "$c1" ]; echo $?)" "and serving through node1's forward ($n)"
tap_is "$(boots c)" 1 "with no reset (one boot on its console)"

tap_diag "scenario time: $(since "$t_start" "$(now)")"
tap_done
