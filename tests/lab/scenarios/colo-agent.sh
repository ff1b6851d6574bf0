#!/bin/bash
# Not in the run of all scenarios yet (no number): it fails about one run
# in three, the secondary's QEMU ending soon after the replication that
# the promotion starts while the guest boots.  Run it by hand:
#   tests/lab/lab up && bash tests/lab/scenarios/colo-agent.sh
# ocf:vcha:colo's pair on node1 and node2 (the nodes' QEMU
# 11.1.2, TCG), run by Pacemaker: the VM tests' guest (a counter in
# memory, on its console and served on port 7000 through each QEMU's host
# forward), each node's disk its own file, COLO's traffic over the lab
# bridge.
#   1. the clone starts: a secondary on both nodes, one promoted (the
#      first-start score) boots the guest; after the promotion the
#      primary's notify starts replication to the other, which reaches
#      COLO; the secondary then scores 100 (in sync), the primary 200;
#   2. the primary's node powered off: fenced, the secondary promoted: its
#      QEMU takes over (the same process, no boot), the guest goes on from
#      its count in memory and serves through the survivor's forward; the
#      data epoch there is above the lost node's; times from the power-off;
#   3. the node returns and rejoins: the guest stays where it is, serving
#      on; a secondary starts on the returning node, and the taken-over
#      primary replicates to it (COLO again, the secondary at 100).
set -u
here=$(cd "$(dirname "$0")/.." && pwd)
. "$here/../lib/tap.sh"
. "$here/common.sh"
. "$here/colo-common.sh"

[ "$(id -u)" = 0 ] || tap_bail "the lab needs root"
work=$(mktemp -d)
t_start=$(now)
DISK=/var/lib/colo23/disk.raw # on each node: its own copy
RUN=/run/vcha/colo/vm23

colo_cleanup() {
    local n
    ex node1 pcs resource delete vm23-clone --force > /dev/null 2>&1
    ex node1 crm_resource --wait --timeout=120s > /dev/null 2>&1
    for n in node1 node2 node3; do
        ex $n sh -c "cat $RUN/qemu.log.old $RUN/qemu.log > $NDIR/\$(hostname)-qemu.log" > /dev/null 2>&1
        ex $n sh -c "pkill -9 -f 'guest=vm23,'; rm -rf /var/lib/colo23 $RUN" > /dev/null 2>&1
        ex node1 crm_attribute -t nodes -N $n -n vcha-colo-vm23-epoch -l forever -D > /dev/null 2>&1
    done
}
colo_begin colo23
for n in node1 node2; do ex $n sh -c "mkdir -p /var/lib/colo23 && truncate -s 16M $DISK"; done

# where Pacemaker runs the instances ("... is running on: node1 Promoted");
# crm_mon's summary changes its form while a transition runs
locate() { ex node1 crm_resource -r vm23-clone --locate 2> /dev/null | sed -n 's/.*is running on: //p'; }
promoted_node() { locate | awk '$2 == "Promoted" { print $1; exit }'; }
unpromoted_node() { locate | awk '$2 != "Promoted" { print $1; exit }'; }
score() { ex node1 crm_attribute -N "$1" -l reboot -n master-vm23 -G -q 2> /dev/null; }
epoch() { ex node1 crm_attribute -t nodes -N "$1" -n vcha-colo-vm23-epoch -l forever -G -q 2> /dev/null; }
colo_mode() { ex "$1" "$RUNNER" qmp $RUN/qmp.sock query-colo-status 2> /dev/null | field mode; }
qemu_pid() { ex "$1" pgrep -f "guest=vm23,debug-threads" 2> /dev/null | head -1; }
console() { ex "$1" cat $RUN/serial.log 2> /dev/null | tr -d '\r'; }
count_of() { console "$1" | sed -n 's/^vcha-guest: count=\([0-9]*\).*/\1/p' | tail -1; }
ask() { client timeout 6 bash -c "exec 3<> /dev/tcp/$(addr_of "$1")/17000 && head -1 <&3" 2> /dev/null | tr -d '\r'; }
ask_count() { ask "$1" | sed -n 's/^vcha-guest count=\([0-9]*\).*/\1/p'; }
other() { [ "$1" = node1 ] && echo node2 || echo node1; }
wait_true() { # wait_true SECONDS CMD...
    local i
    for ((i = 0; i < $1 * 2; i++)); do "${@:2}" && return 0; sleep 0.5; done
    return 1
}
promoted_is() { [ "$(promoted_node)" = "$1" ]; }
unpromoted_is() { [ "$(unpromoted_node)" = "$1" ]; }
serves() { [ -n "$(ask "$1")" ]; }
all_online() { ex "$1" crm_mon -1 2> /dev/null | grep -q 'Online: \[ node1 node2 node3 \]'; }
in_colo() { [ "$(colo_mode "$1")" = primary ] && [ "$(colo_mode "$(other "$1")")" = secondary ]; }
scored() { [ "$(score "$1")" = "$2" ]; }

# --- 1. the pair
ex node1 cibadmin -C -o resources -X "
<clone id='vm23-clone'>
  <meta_attributes id='vm23-clone-meta'>
    <nvpair id='vm23-clone-promotable' name='promotable' value='true'/>
    <nvpair id='vm23-clone-clone-max' name='clone-max' value='2'/>
    <nvpair id='vm23-clone-clone-node-max' name='clone-node-max' value='1'/>
    <nvpair id='vm23-clone-promoted-max' name='promoted-max' value='1'/>
    <nvpair id='vm23-clone-notify' name='notify' value='true'/>
  </meta_attributes>
  <primitive id='vm23' class='ocf' provider='vcha' type='colo'>
    <instance_attributes id='vm23-params'>
      <nvpair id='vm23-disk' name='disk' value='$DISK'/>
      <nvpair id='vm23-kernel' name='kernel' value='$NDIR/vmlinuz'/>
      <nvpair id='vm23-initrd' name='initrd' value='$NDIR/initramfs.gz'/>
      <nvpair id='vm23-append' name='append' value='$APPEND'/>
      <nvpair id='vm23-accel' name='accel' value='tcg'/>
      <nvpair id='vm23-memory' name='memory' value='128'/>
      <nvpair id='vm23-forward' name='forward' value='0.0.0.0:17000:7000'/>
      <nvpair id='vm23-repl' name='replication_address' value='$(addr_of node1) $(addr_of node2) $(addr_of node3)'/>
      <nvpair id='vm23-colo-delay' name='colo_delay' value='2s'/>
      <nvpair id='vm23-shutdown' name='shutdown_timeout' value='10s'/>
    </instance_attributes>
    <operations>
      <op id='vm23-start' name='start' interval='0' timeout='60s'/>
      <op id='vm23-promote' name='promote' interval='0' timeout='60s'/>
      <op id='vm23-demote' name='demote' interval='0' timeout='60s'/>
      <op id='vm23-stop' name='stop' interval='0' timeout='60s'/>
      <op id='vm23-notify' name='notify' interval='0' timeout='120s'/>
      <op id='vm23-monitor-promoted' name='monitor' interval='3s' role='Promoted' timeout='30s'/>
      <op id='vm23-monitor-unpromoted' name='monitor' interval='4s' role='Unpromoted' timeout='30s'/>
    </operations>
  </primitive>
</clone>"
rc=$?
ex node1 cibadmin -C -o constraints -X \
    '<rsc_location id="vm23-not-on-node3" rsc="vm23-clone" node="node3" score="-INFINITY"/>'
tap_ok $((rc + $?)) "1. a COLO pair vm23-clone on node1 and node2"
set_p() { P=$(promoted_node) && [ -n "$P" ]; }
wait_true 120 set_p
[ -n "$P" ] || { ex node1 crm_mon -1 | sed 's/^/#  /'; tap_bail "nothing promoted"; }
S=$(other "$P")
tap_ok 0 "promoted on $P"
wait_true 60 in_colo "$P"
rc=$?
tap_ok $rc "the primary's notify started replication: $P's QEMU is the COLO primary, $S's the secondary"
[ "$rc" = 0 ] || ex "$P" grep -a "vm23\|colo" /var/log/pacemaker/pacemaker.log | grep -i "replicat\|COLO\|warn" | tail -8 | sed 's/^/#  /'
ex "$P" grep -a "in COLO with" /var/log/pacemaker/pacemaker.log | tail -1 | sed 's/.*vm23: /# /'
wait_true 60 scored "$S" 100
tap_ok $? "the secondary scores 100 once in sync ($(score "$S"))"
tap_is "$(score "$P")" 200 "the primary 200"
wait_true 90 serves "$P"
tap_like "$(ask "$P")" "vcha-guest count=*" "the guest serves through $P's forward"
spid=$(qemu_pid "$S")
sleep 10
tap_ok "$([ "$(qemu_pid "$S")" = "$spid" ] && in_colo "$P" && scored "$S" 100; echo $?)" \
    "10 s on: still in COLO, the same secondary QEMU ($spid), scoring 100"
if [ "$(qemu_pid "$S")" != "$spid" ]; then
    # what the secondary said before it ended (its successor moved its
    # QEMU log to .old; the console is appended to)
    ex "$S" tail -20 $RUN/qemu.log.old | sed 's/^/#  qemu: /'
    ex "$S" tail -30 $RUN/serial.log | tr -d '\r' | sed 's/^/#  console: /'
    ex "$S" grep -a "vm23" /var/log/pacemaker/pacemaker.log | grep -i "warn\|err\|fail\|ended" | tail -10 | sed 's/^/#  pacemaker: /'
fi

# --- 2. the primary's node lost
last=$(ask_count "$P")
boots=$(console "$S" | grep -c "Linux version")
t0=$(now)
lab poweroff "$P" 2> /dev/null
wait_true 120 promoted_is "$S"
rc=$?
t_prom=$(now)
tap_ok $rc "2. $P powered off: $S is promoted"
[ "$rc" = 0 ] || ex "$S" crm_mon -1 | sed 's/^/#  /'
tap_is "$(qemu_pid "$S")" "$spid" "by its QEMU taking over (the same process, $spid)"
tap_is "$(colo_mode "$S")" none "out of COLO, alone"
tap_is "$(console "$S" | grep -c "Linux version")" "$boots" \
    "its guest did not boot again: it came from the primary's memory"
wait_true 30 serves "$S"
t_serve=$(now)
n=$(ask_count "$S")
tap_ok "$([ -n "$n" ] && [ -n "$last" ] && [ "$n" -gt "$last" ]; echo $?)" \
    "the guest serves through $S's forward, its count ($n) past the last one served by $P ($last)"
tap_diag "from the power-off: promoted $(since "$t0" "$t_prom"), serving $(since "$t0" "$t_serve")"
node_loss "$t0" "$P" "$S" | sed 's/^/#/'
tap_ok "$([ "$(epoch "$S")" -gt "$(epoch "$P")" ]; echo $?)" \
    "the data epoch on $S ($(epoch "$S")) is above $P's ($(epoch "$P"))"

# --- 3. the node returns
wait_true 180 all_online "$S"
tap_ok $? "$P was fenced, powered on, and rejoined"
wait_true 90 unpromoted_is "$P"
tap_ok $? "a secondary starts on $P; $S stays promoted"
tap_is "$(promoted_node)" "$S" "the guest stays on $S"
c1=$(ask_count "$S")
tap_ok "$([ -n "$c1" ] && [ "$c1" -ge "$n" ]; echo $?)" "and serves on ($c1)"
wait_true 60 in_colo "$S"
tap_ok $? "the taken-over primary replicates to the new secondary on $P: in COLO again"
wait_true 60 scored "$P" 100
tap_ok $? "which scores 100 once in sync"

tap_diag "scenario time: $(since "$t_start" "$(now)")"
tap_done
