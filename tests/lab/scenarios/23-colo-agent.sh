#!/bin/bash
# Scenario 23: ocf:vcha:colo's pair on node1 and node2 (the nodes' QEMU
# 11.1.2, TCG), run by Pacemaker: the VM tests' guest (a counter in
# memory, on its console and served on port 7000 through each QEMU's host
# forward), each node's disk its own file, COLO's traffic over the lab
# bridge.
#   1. the clone starts: a secondary on both nodes, one promoted (the
#      first-start score) boots the guest; after the promotion the
#      primary's notify, once the guest has run replicate_after (30 s),
#      starts replication to the other, which reaches COLO; the secondary
#      then scores 100 (in sync), the primary 200;
#   2. the primary's node powered off: fenced, the secondary promoted: its
#      QEMU takes over (the same process, no boot), the guest goes on from
#      its count in memory and serves through the survivor's forward; the
#      data epoch there is above the lost node's; times from the power-off;
#   3. the node returns and rejoins: the guest stays where it is, serving
#      on; a secondary starts on the returning node, and the taken-over
#      primary replicates to it (COLO again, the secondary at 100);
#   4. the secondary's QEMU killed: the primary's guest goes on alone; a
#      new secondary starts, scores 100 only once in COLO;
#   5. the primary's QEMU killed while paused for a checkpoint: the
#      secondary takes over from the last checkpoint (no boot, the count
#      past the last one served);
#   6. a partition cuts the primary's node off: it is fenced, the
#      secondary takes over; sampled on both nodes every few ms, never two
#      primaries at once.
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
# The cluster's view is asked of node3: never powered off nor cut off, it
# is always on the side with quorum (a node cut off sees only its own
# stale view, and a powered-off one answers nothing).
WITNESS=node3

colo_cleanup() {
    local n
    rm -f "$SHARED/colo23-samples/on"
    ex $WITNESS pcs resource delete vm23-clone --force > /dev/null 2>&1
    ex $WITNESS crm_resource --wait --timeout=120s > /dev/null 2>&1
    for n in node1 node2 node3; do
        ex $n sh -c "cat $RUN/qemu.log.old $RUN/qemu.log > $NDIR/\$(hostname)-qemu.log" > /dev/null 2>&1
        ex $n sh -c "pkill -9 -f 'guest=vm23,'; rm -rf /var/lib/colo23 $RUN" > /dev/null 2>&1
        ex $WITNESS crm_attribute -t nodes -N $n -n vcha-colo-vm23-epoch -l forever -D > /dev/null 2>&1
    done
}
colo_begin colo23
# the nodes' Pacemaker logs as long as they are now: this run's lines follow
declare -A log_at
new_log() { ex "$1" tail -n +$((${log_at[$1]:-0} + 1)) /var/log/pacemaker/pacemaker.log 2> /dev/null; }
mark_log() { log_at[$1]=$(ex "$1" sh -c 'wc -l < /var/log/pacemaker/pacemaker.log' 2> /dev/null || echo 0); }
for n in node1 node2; do mark_log "$n"; done
# why_not_promoted NODE: the cluster's view and what NODE's cluster did
# since mark_log
why_not_promoted() {
    ex "$1" crm_mon -1 | sed 's/^/#  /'
    ex "$1" stonith_admin --history '*' 2> /dev/null | sed 's/^/#  fencing: /'
    new_log "$1" | grep -a "colo(vm23)\|log_list_item\|Initiating\|Result of\|election\|finalize_op\|timed out\|error:" |
        grep -v "monitor operation" | tail -60 | cut -c1-220 | sed 's/^/#  /'
}
for n in node1 node2; do ex $n sh -c "mkdir -p /var/lib/colo23 && truncate -s 16M $DISK"; done

# where Pacemaker runs the instances ("... is running on: node1 Promoted");
# crm_mon's summary changes its form while a transition runs
locate() { ex $WITNESS crm_resource -r vm23-clone --locate 2> /dev/null | sed -n 's/.*is running on: //p'; }
promoted_node() { locate | awk '$2 == "Promoted" { print $1; exit }'; }
unpromoted_node() { locate | awk '$2 != "Promoted" { print $1; exit }'; }
score() { ex $WITNESS crm_attribute -N "$1" -l reboot -n master-vm23 -G -q 2> /dev/null; }
epoch() { ex $WITNESS crm_attribute -t nodes -N "$1" -n vcha-colo-vm23-epoch -l forever -G -q 2> /dev/null; }
colo_mode() { ex "$1" "$RUNNER" qmp $RUN/qmp.sock query-colo-status 2> /dev/null | field mode; }
qemu_pid() { ex "$1" pgrep -f "guest=vm23,debug-threads" 2> /dev/null | head -1; }
console() { ex "$1" cat $RUN/serial.log 2> /dev/null | tr -d '\r'; }
count_of() { console "$1" | sed -n 's/^vcha-guest: count=\([0-9]*\).*/\1/p' | tail -1; }
ask() { client timeout 6 bash -c "exec 3<> /dev/tcp/$(addr_of "$1")/17000 && head -1 <&3" 2> /dev/null | tr -d '\r'; }
# the count the guest serves, asked as a client would, up to 5 times (under
# COLO a reply waits for the secondary's, or for the checkpoint after)
ask_count() {
    local i c
    for ((i = 0; i < 5; i++)); do
        c=$(ask "$1" | sed -n 's/^vcha-guest count=\([0-9]*\).*/\1/p')
        [ -n "$c" ] && break
    done
    echo "$c"
}
other() { [ "$1" = node1 ] && echo node2 || echo node1; }
wait_true() { # wait_true SECONDS CMD...
    local i
    for ((i = 0; i < $1 * 2; i++)); do "${@:2}" && return 0; sleep 0.5; done
    return 1
}
promoted_is() { [ "$(promoted_node)" = "$1" ]; }
# promoted, the promote done (a promote under way shows as Promoted too;
# its last step sets the score of 200)
promoted_done() { promoted_is "$1" && scored "$1" 200; }
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
wait_true 90 in_colo "$P"
rc=$?
tap_ok $rc "the primary's notify started replication: $P's QEMU is the COLO primary, $S's the secondary"
w=$(new_log "$P" | grep -a "vm23: QEMU has run .* replication in" | tail -1 | sed 's/.*vm23: //')
ran=$(echo "$w" | sed -n 's/QEMU has run \([0-9]*\) ms: replication in \([0-9]*\) ms/\1 + \2/p')
tap_ok "$([ -n "$ran" ] && [ $((ran)) -ge 29900 ]; echo $?)" \
    "replication began once the guest had run replicate_after (30 s): $w"
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
wait_true 120 promoted_done "$S"
rc=$?
t_prom=$(now)
tap_ok $rc "2. $P powered off: $S is promoted"
[ "$rc" = 0 ] || ex "$S" crm_mon -1 | sed 's/^/#  /'
tap_is "$(qemu_pid "$S")" "$spid" "by its QEMU taking over (the same process, $spid)"
tap_is "$(colo_mode "$S")" none "out of COLO, alone"
tap_is "$(ex "$S" ls $RUN | grep -c 'qcow2')" 0 \
    "its overlays committed into the disk and removed, none kept"
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
# its guest pauses while the replication to the new secondary begins
wait_true 30 serves "$S"
c1=$(ask_count "$S")
tap_ok "$([ -n "$c1" ] && [ "$c1" -ge "$n" ]; echo $?)" "and serves on ($c1)"
wait_true 60 in_colo "$S"
tap_ok $? "the taken-over primary replicates to the new secondary on $P: in COLO again"
wait_true 60 scored "$P" 100
tap_ok $? "which scores 100 once in sync"

# --- 4. the secondary's QEMU killed: the primary goes on alone, a new
# secondary starts and scores 100 only once in COLO
spid=$(qemu_pid "$P")
c0=$(count_of "$S")
ex "$P" kill -9 "$spid"
new_secondary() { local p; p=$(qemu_pid "$P") && [ -n "$p" ] && [ "$p" != "$spid" ]; }
wait_true 60 new_secondary
tap_ok $? "4. $P's secondary QEMU killed: Pacemaker starts another"
c1=$(count_of "$S")
tap_ok "$([ -n "$c1" ] && [ -n "$c0" ] && [ "$c1" -gt "$c0" ]; echo $?)" \
    "the primary's guest went on alone (its console's count $c0 -> $c1)"
# its score, sampled until COLO runs: never 100 before
early=
for ((i = 0; i < 180; i++)); do
    sc=$(score "$P")
    m=$(colo_mode "$P")
    [ "$sc" = 100 ] && [ "$m" != secondary ] && early="$early 100-while-$m"
    in_colo "$S" && break
    sleep 0.5
done
in_colo "$S"
tap_ok $? "the primary replicates to it: in COLO again"
tap_is "$early" "" "the new secondary did not score 100 before it was in sync"
wait_true 30 serves "$S"
c2=$(ask_count "$S")
tap_ok "$([ -n "$c2" ] && [ "$c2" -ge "$c1" ]; echo $?)" "and it serves ($c2)"
wait_true 60 scored "$P" 100
tap_ok $? "and only then it scores 100"
tap_is "$(promoted_node)" "$S" "the guest stayed on $S"

# --- 5. the primary's QEMU killed during a checkpoint (while QEMU has
# the guest paused in state "colo"): the secondary takes over from the
# last checkpoint
ppid=$(qemu_pid "$S")
spid=$(qemu_pid "$P")
boots=$(console "$P" | grep -c "Linux version")
last=$(ask_count "$S")
hit=$(ex "$S" timeout 60 bash -c "
    while :; do
        st=\$($RUNNER qmp $RUN/qmp.sock query-status 2> /dev/null)
        case \$st in *'\"status\":\"colo\"'*) kill -9 $ppid; echo hit; exit 0 ;; esac
    done")
tap_is "$hit" hit "5. $S's primary QEMU killed while paused for a checkpoint"
t0=$(now)
wait_true 90 promoted_done "$P"
rc=$?
t_prom=$(now)
tap_ok $rc "$P is promoted"
tap_is "$(colo_mode "$P")" none "out of COLO, alone"
tap_is "$(qemu_pid "$P")" "$spid" "by its secondary QEMU taking over (the same process, $spid)"
tap_is "$(console "$P" | grep -c "Linux version")" "$boots" "its guest did not boot"
wait_true 30 serves "$P"
n=$(ask_count "$P")
tap_ok "$([ -n "$n" ] && [ -n "$last" ] && [ "$n" -gt "$last" ]; echo $?)" \
    "it serves its count ($n), past the last one served before the kill ($last)"
tap_diag "from the kill: promoted $(since "$t0" "$t_prom")"

# --- 6. a partition: the primary's node cut off from the other two.  It
# loses quorum and is fenced; the secondary takes over.  At no instant do
# two QEMUs act as primary (running, not a secondary, not awaiting a
# migration): a sampler on each node asks its QEMU (through the test's
# QMP socket) and records the answer with the time; the host records the
# instant a node's init dies (a fenced node samples until its power goes).
S=$(other "$P")
wait_true 90 in_colo "$P"
rc=$?
wait_true 60 scored "$S" 100
tap_ok $((rc + $?)) "6. $P's primary and $S's new secondary in COLO again, scoring 100"
samples=$SHARED/colo23-samples
rm -rf "$samples" && mkdir -p "$samples"
cat > "$samples/sampler" << SAMPLER
#!/bin/bash
exec >> "/srv/shared/colo23-samples/\$HOSTNAME" 2> /dev/null
q() { $RUNNER qmp $RUN/qmp.sock "\$1" 2> /dev/null; }
echo "\${EPOCHREALTIME/./} start"
while [ -e /srv/shared/colo23-samples/on ]; do
    s=not
    st=\$(q query-status)
    case \$st in
    *'"status":"inmigrate"'*) ;;
    '') pgrep -f 'guest=vm23,debug-threads' > /dev/null && s=run ;; # cannot tell
    *) case \$(q query-colo-status) in *'"mode":"secondary"'*) ;; ?*) s=run ;; esac ;;
    esac
    echo "\${EPOCHREALTIME/./} \$s"
    sleep 0.01
done
echo "\${EPOCHREALTIME/./} stop"
SAMPLER
chmod 755 "$samples/sampler"
touch "$samples/on"
inits=()
for n in "$P" "$S"; do
    ex "$n" setsid -f /srv/shared/colo23-samples/sampler < /dev/null > /dev/null 2>&1
    inits+=("$n=$(lab pid "$n")")
done
(
    while [ -e "$samples/on" ] && [ ${#inits[@]} -gt 0 ]; do
        for i in "${!inits[@]}"; do
            st=
            read -r _ _ st _ 2> /dev/null < "/proc/${inits[$i]#*=}/stat"
            if [ -z "$st" ] || [ "$st" = Z ]; then
                echo "${EPOCHREALTIME/./} off" > "$samples/${inits[$i]%=*}.off"
                unset "inits[$i]"
            fi
        done
        sleep 0.01
    done
) &
watcher=$!
sampled() { [ "$(grep -c ' run$' "$samples/$P" 2> /dev/null)" -ge 5 ] && [ "$(grep -c ' not$' "$samples/$S" 2> /dev/null)" -ge 5 ]; }
wait_true 20 sampled
tap_ok $? "samplers on $P and $S see a primary on $P and none on $S"
spid=$(qemu_pid "$S")
last=$(ask_count "$P")
mark_log "$S"
t0=$(now)
lab partition "$P" / "$S" node3 2> /dev/null
wait_true 120 promoted_done "$S"
rc=$?
t_prom=$(now)
tap_ok $rc "the cut-off $P is fenced, $S promoted"
[ "$rc" = 0 ] || why_not_promoted "$S"
tap_is "$(qemu_pid "$S")" "$spid" "by its QEMU taking over ($spid)"
wait_true 30 serves "$S"
n=$(ask_count "$S")
tap_ok "$([ -n "$n" ] && [ -n "$last" ] && [ "$n" -gt "$last" ]; echo $?)" \
    "it serves its count ($n), past the last one served by $P ($last)"
tap_diag "from the partition: promoted $(since "$t0" "$t_prom")"
node_loss "$t0" "$P" "$S" | sed '1s/power-off: every process of \(.*\) gone at once/partition: \1 cut off/; s/^/#/'
lab heal 2> /dev/null
wait_true 180 all_online "$S"
tap_ok $? "the partition healed, $P rejoined"
rm -f "$samples/on"
wait "$watcher"
sleep 1
# merged by time: a node's last answer holds until its next, or until its
# init died
for n in "$P" "$S"; do
    sed "s/^/$n /" "$samples/$n"
    [ -e "$samples/$n.off" ] && sed "s/^/$n /" "$samples/$n.off"
done | sort -s -k2,2n | awk '
    $3 == "run" { cur[$1] = 1 }
    $3 == "not" || $3 == "off" || $3 == "stop" || $3 == "start" { cur[$1] = 0 }
    $3 == "run" || $3 == "not" { k[$1]++; if (prev[$1] && $2 - prev[$1] > gap) gap = $2 - prev[$1]; prev[$1] = $2 }
    { n = 0; for (x in cur) n += cur[x]; if (n > max) max = n }
    END { printf "%d %d %d\n", max, k["'"$P"'"] + k["'"$S"'"], gap / 1000 }' > "$work/merged"
read -r most total gap < "$work/merged"
tap_diag "samples: $total; the longest gap between two of one sampler: $gap ms"
tap_is "$most" 1 "at no instant two primaries (most at once: $most)"
tap_ok "$([ -e "$samples/$P.off" ] && [ ! -e "$samples/$S.off" ]; echo $?)" "the host saw $P, and only it, lose power"
tap_ok "$([ -n "$gap" ] && [ "$gap" -lt 1000 ]; echo $?)" "no sampler stalled for a second or more (${gap} ms)"
tap_ok "$(grep -q ' run$' "$samples/$S"; echo $?)" "$S's sampler saw its QEMU become the primary"

tap_diag "scenario time: $(since "$t_start" "$(now)")"
tap_done
