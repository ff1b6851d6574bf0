#!/bin/bash
# ocf:vcha:colo under this machine's own Pacemaker (a one-node cluster,
# tests/lib/cluster1.sh), with this machine's QEMU and the VM tests' guest
# (tests/vm/guest-build) under TCG: a pair with one instance, so no COLO
# checkpoint ever runs (the lab's two nodes run the pair).  Checked: start
# leaves a secondary waiting for a primary (QEMU -incoming, its disk's
# NBD export and the migration listening), which the first-start score
# (1) lets Pacemaker promote; promote boots the guest in a standalone
# primary, a daemon that is no child of the agent; the data epoch is
# recorded beside the disk and as a node attribute; the promotion score
# is 200; the guest serves through its host forward.  Demote powers the
# guest off through ACPI (its console says so, no kill) and waits as a
# secondary again, scoring 10 (its data the newest); promote again boots
# the same disk (the guest's count on it goes on) with the epoch 2.  A
# QEMU killed is found by the monitor and recovered by Pacemaker.  Stop
# ends QEMU, removes the overlays, the role, the job and the score, and
# keeps the epoch.  Bad configurations are refused naming the parameter.
set -u
. "$top_srcdir/tests/lib/tap.sh"
. "$top_srcdir/tests/lib/cluster1.sh"
. "$top_srcdir/tests/lib/guest.sh"
. "$top_srcdir/tests/lib/qmp.sh"

[ "$(id -u)" = 0 ] || tap_skip_all "a cluster in namespaces needs root"
for prog in corosync pacemakerd cibadmin crm_mon crm_attribute unshare ip \
    qemu-system-x86_64 qemu-img python3; do
    command -v "$prog" > /dev/null ||
        tap_bail "$prog missing: install pacemaker corosync qemu-system-x86 qemu-utils"
done
[ -n "${VCHA_IN_CLUSTER_NS:-}" ] || guest_build
cluster1_enter "$@"

AGENT=$top_builddir/agents/colo
CTL=$top_builddir/daemon/vchactl
work=$(mktemp -d)
chmod 755 "$work"
trap 'pkill -9 -f "guest=(vm|bad|ot)," 2> /dev/null; umount "$work/small" 2> /dev/null; rm -rf "$work"' EXIT
# the agent (run by Pacemaker, which inherits this environment) starts
# vchad from the build
export VCHA_VCHAD=$top_builddir/daemon/vchad VCHA_SOCKET=/run/vcha/vchad.sock
truncate -s 1M "$work/disk.raw"
RUN=$work/run
AH=$work/ah
cluster1_start "$work/cluster" || { cluster1_logs; tap_bail "the cluster did not start"; }
cluster1_agent vcha colo "$AGENT"
tap_diag "$(qemu-system-x86_64 --version | head -1)"

qmp() { qmp_get "$RUN/vm/qmp.sock" "$1" "$2"; } # qmp COMMAND KEY
qemu_pid() { pgrep -f "guest=vm,debug-threads" | head -1; }
promoted() { crm_mon -1 2> /dev/null | grep -q "[^n]Promoted.*: \[ node1 \]"; }
unpromoted() { crm_mon -1 2> /dev/null | grep -q "Unpromoted.*: \[ node1 \]"; }
stopped() { crm_resource -r vm-clone --locate 2>&1 | grep -q "NOT running"; }
score() { crm_attribute -N node1 -l reboot -n master-vm -G -q 2> /dev/null; }
epoch_attr() { crm_attribute -t nodes -N node1 -n vcha-colo-vm-epoch -G -q 2> /dev/null; }
answer() { # the guest's line on its service, through the host forward
    python3 -c '
import socket, sys
s = socket.create_connection(("127.0.0.1", 17000), timeout=5)
print(s.makefile().readline().strip())' 2> /dev/null
}
console_has() { grep -q "$1" "$RUN/vm/serial.log" 2> /dev/null; }
export -f promoted unpromoted stopped score
dump() { # what the cluster and the agent say, as TAP comments
    crm_mon -1 --failcounts 2>&1 | sed 's/^/#  /'
    grep -a "colo\|vm" /var/log/pacemaker/pacemaker.log | grep -v "^.*debug" |
        tail -40 | sed 's/^/#  /'
}
target_role() {
    crm_resource -r vm-clone --meta -p target-role -v "$1" > /dev/null 2>&1
}

cibadmin -C -o resources -X "
<clone id='vm-clone'>
  <meta_attributes id='vm-clone-meta'>
    <nvpair id='vm-clone-promotable' name='promotable' value='true'/>
    <nvpair id='vm-clone-clone-max' name='clone-max' value='1'/>
    <nvpair id='vm-clone-promoted-max' name='promoted-max' value='1'/>
    <nvpair id='vm-clone-notify' name='notify' value='true'/>
  </meta_attributes>
  <primitive id='vm' class='ocf' provider='vcha' type='colo'>
    <instance_attributes id='vm-params'>
      <nvpair id='vm-disk' name='disk' value='$work/disk.raw'/>
      <nvpair id='vm-kernel' name='kernel' value='$VCHA_GUEST/vmlinuz'/>
      <nvpair id='vm-initrd' name='initrd' value='$VCHA_GUEST/initramfs.gz'/>
      <nvpair id='vm-append' name='append' value='$(cat "$VCHA_GUEST/cmdline") vcha.ip=10.0.2.15/24 vcha.gw=10.0.2.2'/>
      <nvpair id='vm-accel' name='accel' value='tcg'/>
      <nvpair id='vm-memory' name='memory' value='128'/>
      <nvpair id='vm-forward' name='forward' value='127.0.0.1:17000:7000'/>
      <nvpair id='vm-repl' name='replication_address' value='198.18.0.99 127.0.0.1'/>
      <nvpair id='vm-port' name='base_port' value='19300'/>
      <nvpair id='vm-run' name='run_dir' value='$RUN'/>
      <nvpair id='vm-ah' name='active_hidden_dir' value='$AH'/>
      <nvpair id='vm-shutdown' name='shutdown_timeout' value='30s'/>
    </instance_attributes>
    <operations>
      <op id='vm-start' name='start' interval='0' timeout='60s'/>
      <op id='vm-promote' name='promote' interval='0' timeout='60s'/>
      <op id='vm-demote' name='demote' interval='0' timeout='90s'/>
      <op id='vm-stop' name='stop' interval='0' timeout='90s'/>
      <op id='vm-monitor-promoted' name='monitor' interval='3s' role='Promoted' timeout='30s'/>
      <op id='vm-monitor-unpromoted' name='monitor' interval='4s' role='Unpromoted' timeout='30s'/>
    </operations>
  </primitive>
</clone>"
tap_ok $? "a COLO pair of one instance as a promotable clone"

# --- first start: a secondary, then promoted as the only copy there is
cluster1_wait 120 bash -c promoted
rc=$?
tap_ok $rc "Pacemaker promotes it (first-start score 1)"
[ "$rc" = 0 ] || { dump; tap_bail "no promoted instance"; }
tap_is "$(cat "$RUN/vm/role" 2> /dev/null)" Promoted "its role file says Promoted"
pid=$(qemu_pid)
tap_ok "$([ -n "$pid" ]; echo $?)" "a QEMU runs the guest ($pid)"
tap_is "$(ps -o ppid= -p "${pid:-1}" | tr -d ' ')" 1 \
    "a daemon: no child of the agent or of vchad (its parent is init)"
tap_like "$(tr '\0' ' ' < "/proc/${pid:-1}/cmdline")" "*children.0.file.filename=$work/disk.raw*" \
    "a standalone primary: the disk is the quorum's only child"
tap_is "$(qmp query-colo-status mode)" \
    none "QEMU is in no COLO role yet"
for ((i = 0; i < 90; i++)); do console_has "vcha-guest: count=3" && break; sleep 1; done
console_has "vcha-guest: count=3"
tap_ok $? "the guest boots and counts on its console"
for ((i = 0; i < 30; i++)); do a=$(answer) && [ -n "$a" ] && break; sleep 1; done
tap_like "$a" "vcha-guest count=* disk=*" "the guest serves through its host forward ($a)"
tap_is "$(cat "$work/disk.raw.vcha-epoch" 2> /dev/null)" 1 "data epoch 1 beside the disk"
tap_is "$(epoch_attr)" 1 "and as node attribute vcha-colo-vm-epoch"
cluster1_wait 20 bash -c '[ "$(score)" = 200 ]'
tap_ok $? "the promoted instance scores 200"
for ((i = 0; i < 50; i++)); do "$CTL" status 2> /dev/null | grep -q "colo" && break; sleep 0.2; done
tap_like "$("$CTL" status 2> /dev/null)" "*colo*" "its colo job runs in vchad"

# --- demote: the guest powers off, a secondary waits
disk_before=$(head -c 64 "$work/disk.raw" | tr -d '\0')
target_role Unpromoted
t0=$EPOCHREALTIME
cluster1_wait 90 bash -c unpromoted
rc=$?
tap_ok $rc "target-role Unpromoted: demoted"
tap_diag "demoted in $(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }') s"
[ "$rc" = 0 ] || { dump; tail -5 "$RUN/vm/serial.log" | sed 's/^/#  /'; }
console_has "vcha-guest: power button"
rc=$?
tap_ok $rc "the guest powered itself off (ACPI), not killed"
[ "$rc" = 0 ] || { grep -a "colo(vm" /var/log/pacemaker/pacemaker.log | tail -20 | sed 's/^/#  /'; tail -5 "$RUN/vm/serial.log" | sed 's/^/#  /'; }
tap_is "$(cat "$RUN/vm/role" 2> /dev/null)" Unpromoted "its role file says Unpromoted"
pid=$(qemu_pid)
tap_like "$(tr '\0' ' ' < "/proc/${pid:-1}/cmdline")" "*-incoming defer*" \
    "a secondary QEMU runs ($pid)"
tap_is "$(qmp query-status status)" \
    inmigrate "waiting for the primary's state"
# (listening, seen by ss: a connection would end the incoming migration)
listens() { ss -Hltn "sport = :$1" | grep -q "127.0.0.1:$1"; }
listens 19301
tap_ok $? "the migration listens on replication_address's local one (127.0.0.1:19301)"
listens 19300
tap_ok $? "and the disk's NBD export (19300)"
listens 19302 && listens 19303
tap_ok $? "and the network filters' chardevs (19302, 19303)"

tap_ok "$([ -s "$AH/vm/active.qcow2" ] && [ -s "$AH/vm/hidden.qcow2" ]; echo $?)" \
    "its active and hidden overlays are made"
cluster1_wait 20 bash -c '[ "$(score)" = 10 ]'
tap_ok $? "it scores 10: its data is the newest (epoch 1 of 1)"

# --- promote again: the same disk boots, the epoch goes up
target_role Started
cluster1_wait 90 bash -c promoted
tap_ok $? "target-role Started: promoted again"
for ((i = 0; i < 90; i++)); do console_has "vcha-guest: disk count=[1-9]" && break; sleep 1; done
line=$(grep -a "vcha-guest: disk count=" "$RUN/vm/serial.log" | tail -1)
tap_like "$line" "*disk count=[1-9]*" "the guest finds its count on the disk ($line; written: $disk_before)"
tap_is "$(cat "$work/disk.raw.vcha-epoch" 2> /dev/null)" 2 "data epoch 2"
tap_is "$(epoch_attr)" 2 "recorded for the node too"
tap_ok "$([ ! -e "$AH/vm/active.qcow2" ]; echo $?)" "a primary keeps no overlays"

# --- QEMU killed: the monitor sees it, Pacemaker recovers
pid=$(qemu_pid)
kill -9 "$pid"
failcount() { crm_mon -1 --failcounts 2> /dev/null | sed -n 's/.* vm: .*fail-count=\([0-9]*\).*/\1/p'; }
fails() { [ "$(failcount)" = 1 ]; }
export -f failcount
export -f fails
cluster1_wait 60 bash -c fails
rc=$?
tap_ok $rc "QEMU killed: the promoted monitor fails (fail-count 1)"
[ "$rc" = 0 ] || dump
cluster1_wait 120 bash -c 'promoted && [ -n "$(pgrep -f "guest=vm,debug-threads")" ]'
tap_ok $? "and Pacemaker brings it back promoted"
tap_ok "$([ "$(qemu_pid)" != "$pid" ]; echo $?)" "in a new QEMU"

# --- stop
target_role Stopped
cluster1_wait 90 bash -c stopped
tap_ok $? "target-role Stopped: stopped"
tap_is "$(qemu_pid)" "" "no QEMU left"
tap_ok "$([ ! -e "$RUN/vm/role" ] && [ ! -e "$AH/vm" ]; echo $?)" \
    "no role file, no overlays"
tap_is "$(score)" "" "no promotion score"
tap_ok "$("$CTL" status 2> /dev/null | grep -q colo && echo 1 || echo 0)" "no colo job"
tap_ok "$([ -s "$work/disk.raw.vcha-epoch" ]; echo $?)" "the data epoch is kept"
crm_resource -r vm-clone --meta -d target-role > /dev/null 2>&1
crm_resource --wait --timeout=60s > /dev/null 2>&1
cibadmin -D -o resources -X "<clone id='vm-clone'/>" > /dev/null 2>&1

# --- ocf-tester, as a promotable clone's instance (the clone's meta
# attributes given as Pacemaker gives them), against this cluster's
# attributes; the meta-data in its OCF 1.0 view (tests/vm/ocf-tester.sh
# says why)
cp "$AGENT" "$work/colo-agent"
cp "$top_srcdir/tests/conformance/ocf-1.0-view.xsl" "$work/view.xsl"
cat > "$work/colo" << SH
#!/bin/sh
if [ "\$1" = meta-data ]; then
    "$work/colo-agent" meta-data | xsltproc "$work/view.xsl" -
    exit
fi
export OCF_RESKEY_CRM_meta_clone=0 OCF_RESKEY_CRM_meta_clone_max=2
export OCF_RESKEY_CRM_meta_clone_node_max=1 OCF_RESKEY_CRM_meta_promoted_max=1
export OCF_RESKEY_CRM_meta_promoted_node_max=1 OCF_RESKEY_CRM_meta_notify=true
export OCF_RESKEY_CRM_meta_timeout=60000
exec "$work/colo-agent" "\$@"
SH
chmod 755 "$work/colo" "$work/colo-agent" "$work"
chmod 644 "$work/view.xsl"
truncate -s 1M "$work/ot.raw"
ocf-tester -v -n ot -o disk="$work/ot.raw" -o kernel="$VCHA_GUEST/vmlinuz" \
    -o initrd="$VCHA_GUEST/initramfs.gz" -o append="$(cat "$VCHA_GUEST/cmdline")" \
    -o accel=tcg -o memory=128 -o replication_address=127.0.0.1 \
    -o base_port=19400 -o run_dir="$RUN" -o active_hidden_dir="$AH" \
    -o shutdown_timeout=0 "$work/colo" > "$work/ot.out" 2>&1
rc=$?
sed 's/^/#  /' "$work/ot.out"
tap_is "$rc" 0 "ocf-tester passes colo"
tap_like "$(tail -1 "$work/ot.out")" "*passed all tests*" "it says so"
tap_is "$(pgrep -f "guest=ot,debug-threads")" "" "no QEMU of it left"

# --- bad configurations, straight from the agent
export OCF_ROOT=/usr/lib/ocf OCF_RESOURCE_INSTANCE=bad
export OCF_RESKEY_disk=$work/disk.raw OCF_RESKEY_replication_address=127.0.0.1
export OCF_RESKEY_run_dir=$RUN OCF_RESKEY_active_hidden_dir=$AH
err=$("$AGENT" start 2>&1)
tap_is "$?" 6 "start outside a promotable clone: OCF_ERR_CONFIGURED"
tap_like "$err" "*ocf-exit-reason:*promotable*" "saying why"
export OCF_RESKEY_CRM_meta_promoted_max=1 OCF_RESKEY_CRM_meta_clone_max=2
export OCF_RESKEY_CRM_meta_clone=0
err=$("$AGENT" start 2>&1)
tap_is "$?" 6 "without notify=true: OCF_ERR_CONFIGURED"
tap_like "$err" "*ocf-exit-reason:*notify*" "naming notify"
err=$(OCF_RESKEY_forward=127.0.0.1:99999:80 "$AGENT" validate-all 2>&1)
tap_is "$?" 6 "a forward with port 99999: OCF_ERR_CONFIGURED"
tap_like "$err" "*ocf-exit-reason:*forward*" "naming forward"
err=$(OCF_RESKEY_replication_address="198.18.0.99 not-an-address" "$AGENT" validate-all 2>&1)
tap_is "$?" 6 "a replication address that is none: OCF_ERR_CONFIGURED"
tap_like "$err" "*ocf-exit-reason:*replication_address*" "naming replication_address"
err=$(OCF_RESKEY_replication_address=198.18.0.99 OCF_CHECK_LEVEL=10 "$AGENT" validate-all 2>&1)
tap_is "$?" 2 "no replication address of this node's: OCF_ERR_ARGS"
tap_like "$err" "*ocf-exit-reason:*replication_address*none*" "naming it"
err=$(OCF_RESKEY_period=20s "$AGENT" validate-all 2>&1)
tap_is "$?" 6 "a period not below colo_delay: OCF_ERR_CONFIGURED"
tap_like "$err" "*ocf-exit-reason:*period*colo_delay*" "naming both"
"$AGENT" monitor > /dev/null 2>&1
tap_is "$?" 7 "a probe where nothing runs: OCF_NOT_RUNNING"
"$AGENT" stop > /dev/null 2>&1
tap_is "$?" 0 "a stop where nothing runs succeeds"

# --- an instance run straight from the agent (bad:0), on a disk of its own
export OCF_RESOURCE_INSTANCE=bad:0 OCF_RESKEY_CRM_meta_notify=true
export OCF_RESKEY_CRM_meta_timeout=60000 OCF_RESKEY_disk=$work/bad.raw
export OCF_RESKEY_accel=tcg OCF_RESKEY_memory=128 OCF_RESKEY_base_port=19500
export OCF_RESKEY_shutdown_timeout=0
truncate -s 1M "$work/bad.raw"
bad_pid() { pgrep -f "guest=bad,debug-threads" | head -1; }
mkdir -p "$RUN/bad"
truncate -s 17M "$RUN/bad/serial.log"
"$AGENT" start > /dev/null 2>&1
tap_is "$?" 0 "bad:0 starts a secondary"
bpid=$(bad_pid)
tap_ok "$([ -n "$bpid" ]; echo $?)" "its QEMU runs ($bpid)"
tap_ok "$([ -e "$RUN/bad/serial.log.old" ] && [ "$(stat -c %s "$RUN/bad/serial.log")" -lt 1048576 ]; echo $?)" \
    "a console log past 16 MiB was moved aside when QEMU started"
tap_is "$("$CTL" status 2> /dev/null | awk '$2 == "colo" { print $1 }')" bad \
    "its colo job is named after the resource, not the clone instance"

# a QEMU found with the mark of a set-up under way (its agent killed
# half way) is not a secondary that started: ended, and begun afresh
touch "$RUN/bad/setting-up"
err=$("$AGENT" monitor 2>&1)
tap_is "$?" 1 "a monitor of a secondary left half set up fails"
tap_like "$err" "*ocf-exit-reason:*half set up*" "saying so"
"$AGENT" start > /dev/null 2>&1
tap_is "$?" 0 "start over a secondary left half set up succeeds"
tap_ok "$(p=$(bad_pid); [ -n "$p" ] && [ "$p" != "$bpid" ]; echo $?)" \
    "in a new QEMU (was $bpid, now $(bad_pid))"
tap_ok "$([ ! -e "$RUN/bad/setting-up" ]; echo $?)" "its set-up done, the mark gone"
bpid=$(bad_pid)

# promote with the agent's QMP socket gone: it cannot tell whether the
# secondary is in COLO, and neither kills it nor boots the guest
mv "$RUN/bad/qmp-agent.sock" "$RUN/bad/qmp-agent.away"
err=$("$AGENT" promote 2>&1)
tap_is "$?" 1 "promote that cannot ask QEMU fails"
tap_like "$err" "*ocf-exit-reason:*cannot tell*" "saying it cannot tell"
tap_is "$(bad_pid)" "$bpid" "the secondary is left running"
mv "$RUN/bad/qmp-agent.away" "$RUN/bad/qmp-agent.sock"

# another copy recorded newer data: this one does not boot the guest
crm_attribute -t nodes -N node1 -n vcha-colo-bad-epoch -l forever -v 5 > /dev/null 2>&1
err=$("$AGENT" promote 2>&1)
tap_is "$?" 1 "promote over data older than the newest recorded fails"
tap_like "$err" "*ocf-exit-reason:*epoch 0*older*epoch 5*" "saying whose data is newer"
tap_is "$(bad_pid)" "$bpid" "the secondary is left running, no guest booted"
tap_ok "$([ ! -e "$work/bad.raw.vcha-epoch" ]; echo $?)" "no epoch written"
# the file beside the data cannot be written: promote fails, and the
# node attribute is put back as it was (none)
crm_attribute -t nodes -N node1 -n vcha-colo-bad-epoch -l forever -D > /dev/null 2>&1
mkdir "$work/bad.raw.vcha-epoch"
err=$("$AGENT" promote 2>&1)
tap_is "$?" 1 "promote whose epoch file cannot be written fails"
tap_like "$err" "*ocf-exit-reason:*cannot write data epoch 1*" "saying so"
tap_is "$(crm_attribute -t nodes -N node1 -n vcha-colo-bad-epoch -l forever -G -q 2> /dev/null)" "" \
    "the node attribute is put back (none)"
tap_is "$(bad_pid)" "$bpid" "the secondary is left running"
rmdir "$work/bad.raw.vcha-epoch"
# a bump that recorded the node attribute (epoch 1) but failed to write
# the file beside the data (0) is no newer data
crm_attribute -t nodes -N node1 -n vcha-colo-bad-epoch -l forever -v 1 > /dev/null 2>&1
"$AGENT" promote > /dev/null 2>&1
tap_is "$?" 0 "with only this node's half-done bump above its data, it promotes"
tap_is "$(cat "$work/bad.raw.vcha-epoch" 2> /dev/null)" 1 "to data epoch 1"

# a taken-over primary that ended before its failover had committed the
# overlays into the disk (they are still there): a stop keeps them, and
# the disk is not booted while they are kept
"$AGENT" stop > /dev/null 2>&1
mkdir -p "$AH/bad" "$RUN/bad" && touch "$AH/bad/active.qcow2" "$AH/bad/hidden.qcow2"
printf 'Promoted\n' > "$RUN/bad/role"
"$AGENT" stop > /dev/null 2>&1
tap_is "$?" 0 "the stop of a taken-over primary that ended succeeds"
kept=$(ls "$AH/bad" 2> /dev/null | grep -c '^\(active\|hidden\)\.qcow2\.kept-[0-9]*$')
tap_ok "$([ "$kept" = 2 ] && [ ! -e "$AH/bad/active.qcow2" ]; echo $?)" \
    "it keeps the overlays as NAME.kept-TIME ($kept)"
"$AGENT" start > /dev/null 2>&1
tap_is "$?" 0 "a secondary starts beside them"
bpid=$(bad_pid)
err=$("$AGENT" promote 2>&1)
tap_is "$?" 1 "promote does not boot the disk while they are kept"
tap_like "$err" "*ocf-exit-reason:*kept from a failover*" "saying so"
tap_is "$(bad_pid)" "$bpid" "the secondary is left running"
rm -f "$AH"/bad/*.kept-*
"$AGENT" promote > /dev/null 2>&1
tap_is "$?" 0 "with them removed it promotes"

# parameters that cannot be used, QEMU running: the probe does not say
# "not running", the stop ends it
bpid=$(bad_pid)
OCF_RESKEY_forward=127.0.0.1:99999:80 "$AGENT" monitor > /dev/null 2>&1
tap_is "$?" 6 "a probe with a bad forward while QEMU runs: OCF_ERR_CONFIGURED, not 7"
OCF_RESKEY_forward=127.0.0.1:99999:80 "$AGENT" stop > /dev/null 2>&1
tap_is "$?" 0 "a stop with a bad forward succeeds"
tap_is "$(bad_pid)" "" "and has ended QEMU"
tap_ok "$([ ! -e "$RUN/bad/role" ]; echo $?)" "and removed its role"
tap_is "$("$CTL" status 2> /dev/null | awk '$2 == "colo" { print $1 }')" "" "and its job"
"$AGENT" start > /dev/null 2>&1
bpid=$(bad_pid)
tap_ok "$([ -n "$bpid" ]; echo $?)" "started again ($bpid)"
unset OCF_RESKEY_disk
"$AGENT" stop > /dev/null 2>&1
tap_is "$?" 0 "a stop with no disk at all succeeds"
tap_is "$(bad_pid)" "" "and has ended QEMU (found by name: $bpid)"
OCF_RESKEY_forward=127.0.0.1:99999:80 "$AGENT" monitor > /dev/null 2>&1
tap_is "$?" 7 "a probe with a bad forward where nothing runs: OCF_NOT_RUNNING"

# an active_hidden_dir without room for two overlays as big as the disk
export OCF_RESKEY_disk=$work/bad.raw
mkdir -p "$work/small"
mount -t tmpfs -o size=1536k tmpfs "$work/small"
err=$(OCF_RESKEY_active_hidden_dir=$work/small "$AGENT" start 2>&1)
tap_is "$?" 2 "start with active_hidden_dir too small: OCF_ERR_ARGS"
tap_like "$err" "*ocf-exit-reason:*active_hidden_dir*" "naming active_hidden_dir"
tap_is "$(bad_pid)" "" "no QEMU left"
err=$(OCF_RESKEY_active_hidden_dir=$work/small OCF_RESKEY_active_hidden_room=1 "$AGENT" start 2>&1)
tap_is "$?" 0 "with active_hidden_room=1 (MiB) the same directory serves"
tap_like "$err" "*less than twice the disk*" "with a warning that the overlays may fill it"
OCF_RESKEY_active_hidden_dir=$work/small "$AGENT" stop > /dev/null 2>&1
tap_is "$(bad_pid)" "" "stopped, no QEMU left"
umount "$work/small"

tap_done
