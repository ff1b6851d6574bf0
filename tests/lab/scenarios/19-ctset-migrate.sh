#!/bin/bash
# Scenario 19: an in-VM container set (seed 000) on two standby VMs - the
# active member live-migrated from one to the other (overload relief's
# move), its memory and tree with it, and failed back from there.
# Five nodes: "web" (tests/lab/ctset-common.sh) natively on node1, its tree
# synced into hot member "web" on the standby VM node3; node4 is a second
# standby VM of the ctset clone, with no copy of web's tree; the service
# (vcservice, allow-migrate=true, migration_dir in the lab's shared
# directory) prefers node3 to node4.
#   1. node1 powered off: web comes back in the member on node3; a process
#      in the member counts in memory and writes each value into the tree;
#   2. web moved to node4 (an administrator's move; placement-strategy makes
#      the same move under load): Pacemaker migrates it, migrate_to
#      checkpoints the member on node3 and migrate_from restores it on
#      node4, where the count goes on from where it was (its memory came
#      along) and the client is served through the name all along but
#      for the migration's downtime, which is measured; the record names
#      node4; node3's copy stays stopped with its marker;
#   3. the member killed on node4 (the move's constraint still there):
#      Pacemaker restarts it there, from the tree it serves from (never
#      synced there);
#   4. node4 powered off while web runs there, its tree the newest: node1's
#      start refuses to pull node3's older copy (its marker says the member
#      migrated to node4, and vcha-receive refuses the download), node3's
#      is refused (the record names node4), and web waits for node4, whose
#      return starts it there again, its tree whole;
#   5. failback, a move to node1 (back from node4, not node3): node1 pulls
#      the tree from node4, where the member now lives, and serves the
#      last value the member wrote; both standby copies are released;
#   6. all along, web was active on one node at most (its native httpd, or
#      a member running under its active marker).
set -u
here=$(cd "$(dirname "$0")/.." && pwd)
. "$here/../lib/tap.sh"
. "$here/common.sh"
CS_OVERFLOW=node4
# the count, kept in the memory of a process the member's init starts,
# written into the tree at each step (busybox only: the member has no
# other programs)
# shellcheck disable=SC2016 # the member's shell expands it
CS_ENV='/bin/sh -c '\''n=0; while :; do n=$((n + 1)); echo $n > /www/mem.new && /bin/busybox mv /www/mem.new /www/mem; /bin/busybox sleep 0.2; done'\'' < /dev/null > /dev/null 2>&1 &'
. "$here/ctset-common.sh"

[ "$(id -u)" = 0 ] || tap_bail "the lab needs root"
P=$CS_P
S=$CS_S
T=$CS_OVERFLOW
MIG=$CS_MIG
work=$(mktemp -d)
t_start=$(now)

trap 'cs_poll_stop; cs_active_watch_stop; ex node2 pcs resource clear www > /dev/null 2>&1; cs_cleanup; rm -rf "$work"' EXIT

record() {
    ex node2 crm_attribute -t crm_config -s vcha-records -n vcha-active-web -G -q 2> /dev/null
}
located() {
    ex node2 crm_resource --locate -r web 2> /dev/null |
        sed -n 's/.*running on: \(node[0-9]*\).*/\1/p' | tr '\n' ' '
}
# ct_state NODE: RUNNING, STOPPED (or FROZEN) as the node's LXC says;
# nothing when it cannot be asked
ct_state() { ex "$1" lxc-info -n web -s -H 2> /dev/null; }
# log_wait SECONDS T0 NODE PATTERN: the epoch time of the first line of
# NODE's pacemaker.log at or after T0 matching PATTERN, waited for
log_wait() {
    local i t
    for ((i = 0; i < $1 * 2; i++)); do
        t=$(log_time "$2" "$3" /var/log/pacemaker/pacemaker.log "$4")
        [ -n "$t" ] && break
        sleep 0.5
    done
    echo "$t"
}
# ------------------------------------------------------------ the set-up
lab up 5 > "$work/up" 2>&1 || { sed 's/^/#  /' "$work/up"; tap_bail "lab up failed"; }
cs_cleanup
cs_configure 2> "$work/create"
tap_is "$?" 0 "a ctset clone on $S and $T, web (allow-migrate, migration_dir) preferring $P, then $S"
sed 's/^/#  /' "$work/create"
pa=$(addr_of "$P")
cs_ready 120
tap_ok $? "the first batch reached $S and its hot member answers"
tap_is "$(ct_state "$T")" STOPPED "$T's copy, never synced, is not started"

# ------------------------------------------------------------ 1. failover
cs_active_watch "$work/watch" "$P $S $T" web
cs_fail_primary
wait_for 10 sh -c "[ -n \"\$(ip netns exec vchalab-client curl -s --max-time 1 http://$CS_ADDR/mem)\" ]"
tap_ok $? "a process in the member on $S counts in memory, served as /mem"
wait_for 120 sh -c "'$LAB' exec $S crm_mon -1 | grep -q 'Online: \[ node1 node2 node3 node4 node5 \]'"
tap_ok $? "$P came back and rejoined"
tap_is "$(located)" "$S " "web stays on $S (no automatic failback)"

# ------------------------------------------------------------ 2. the migration
cs_poll "$work/mem" "http://$CS_ADDR/mem"
sleep 2
before=$(client curl -s --max-time 1 "http://$CS_ADDR/mem")
t_move=$(now)
ex node2 crm_resource --move -r www -N "$T" > /dev/null 2>&1
wait_for 90 sh -c "[ \"\$('$LAB' exec node2 crm_resource --locate -r web 2> /dev/null | sed -n 's/.*running on: \(node[0-9]*\).*/\1/p')\" = $T ]"
tap_ok $? "web moved to $T ($(since "$t_move" "$(now)") after the move)"
sleep 3
cs_poll_stop
log_s=$(node_log "$S" /var/log/pacemaker/pacemaker.log)
log_t=$(node_log "$T" /var/log/pacemaker/pacemaker.log)
grep -q "Result of migrate_to operation for web on $S: OK" "$log_s"
tap_ok $? "by a migration: migrate_to succeeded on $S"
grep -q "Result of migrate_from operation for web on $T: OK" "$log_t"
tap_ok $? "and migrate_from on $T"
tap_is "$(located)" "$T " "web runs on $T alone"
# (ctset takes the lock around what it does to a member: a moment)
ex "$T" flock -w 5 "$CS_SYNC/web/rootfs.vcha-active.lock" true
tap_ok $? "the member's activation lock on $T is free again (the restored member did not inherit it)"
tap_is "$(record)" "$T" "the record names $T"
after=$(client curl -s --max-time 1 "http://$CS_ADDR/mem")
tap_cond "${after:-0} > ${before:-0}" \
    "the count went on from its memory on $T (was ${before:-none} before the move, ${after:-none} after)"
# a restart would count from 1 again: each answer at least the one before
tap_is "$(awk '$2 ~ /^[0-9]+$/ { if ($2 + 0 < last) bad++; last = $2 + 0 } END { print bad + 0 }' "$work/mem")" 0 \
    "the count never went back in $(wc -l < "$work/mem") answers through the migration"
gap=$(cs_gap "$work/mem")
tap_cond "$(awk '$2 == "none"' "$work/mem" | wc -l) < $(wc -l < "$work/mem")" \
    "the client was answered through the migration; longest gap ${gap} s"
tap_diag "migration: downtime seen by the client ${gap} s (seed 000, LXD: 5.4-9.0 s)"
grep -F 'vcservice(web)' "$log_s" | grep -F 'checkpointed for its migration' | tail -1 |
    sed 's/^.*checkpointed/#  checkpointed/'
grep -F 'vcservice(web)' "$log_t" | grep -F 'restored from' | tail -1 | sed 's/^.*restored/#  restored/'
sleep 12 # two of ctset's monitors on the source
tap_is "$(ct_state "$S")" STOPPED "$S's copy stays stopped (its address is in use on $T)"
mk_s=$(ex "$S" cat "$CS_SYNC/web/rootfs.vcha-active")
mk_t=$(ex "$T" cat "$CS_SYNC/web/rootfs.vcha-active")
id=$(sed -n 's/^checkpoint=//p' <<< "$mk_s")
tap_is "$(sed -n 's/^migrated_to=//p' <<< "$mk_s")" "$T" \
    "and keeps its active marker, saying migrated_to=$T (never pulled back nor started)"
tap_is "$(sed -n 's/^migrated_from=//p' <<< "$mk_t")/$(grep -c '^restoring_from=' <<< "$mk_t")" "$S/0" \
    "$T's marker says migrated_from=$S: the restore completed"
tap_cond "${id:-0} > 0" "$S's marker names the migration's checkpoint (${id:-none})"
tap_is "$(ex "$T" cat "$MIG/web/.consumed.d/${id:-none}")" "restored $T" \
    "which $MIG/web/.consumed.d/ID says was restored on $T: never to be restored again"
# the checkpoint is the migration's from node3 to node4: a migrate_from on
# node3 (as from node4) is refused, and changes nothing
out=$(ex "$S" env OCF_ROOT=/usr/lib/ocf OCF_RESOURCE_INSTANCE=web \
    OCF_RESKEY_primary="$P" OCF_RESKEY_member=web OCF_RESKEY_address="$pa" \
    OCF_RESKEY_ports=80 OCF_RESKEY_migration_dir=$MIG \
    OCF_RESKEY_CRM_meta_migrate_source="$T" OCF_RESKEY_CRM_meta_timeout=20000 \
    /usr/lib/ocf/resource.d/vcha/vcservice migrate_from 2>&1)
tap_like "$(sed -n 's/^ocf-exit-reason://p' <<< "$out")" \
    "the newest checkpoint in $MIG/web is not web's migration from $T to $S (web, from $S to $T)" \
    "a migrate_from that is not the checkpoint's is refused, naming whose it is"
tap_is "$(record) $(located)" "$T $T " "and changes nothing"
tap_is "$(ct_state "$S")" STOPPED "$S's copy still stopped"

# ------------------------------------------------------------ 3. a restart there
# (the move's constraint kept: a failed resource has no stickiness, and
# would otherwise fail back to its primary, pulling the tree from $T)
ex "$T" sh -c "echo kept > $CS_SYNC/web/rootfs/www/mark"
t_kill=$(now)
ex "$T" lxc-stop -n web -k > /dev/null 2>&1
t=$(log_wait 60 "$t_kill" "$T" "Result of start operation for web on $T: OK")
tap_ok "$([ -n "$t" ]; echo $?)" "the member killed on $T: web restarted there ($(since "$t_kill" "$t"))"
wait_for 30 sh -c "[ \"\$(ip netns exec vchalab-client curl -s --max-time 1 http://$CS_ADDR/mark)\" = kept ]"
tap_ok $? "from its own tree, as it was (a file written there before is served)"
tap_is "$(located)$(record)" "$T $T" "web runs on $T alone, the record naming it"
ex node2 crm_resource --clear -r www > /dev/null 2>&1
ex node2 crm_resource --cleanup -r web > /dev/null 2>&1

# ------------------------------------------------------------ 4. node4 lost
t_off=$(now)
lab poweroff "$T" 2> /dev/null
wait_fenced 60 "$S" "$T" "$t_off"
tap_ok $? "$T powered off while web runs there: fenced"
t=$(log_wait 60 "$t_off" "$P" "cannot pull member web's tree back from $T")
tap_ok "$([ -n "$t" ]; echo $?)" "$P's start does not pull web's tree from elsewhere"
grep -F 'vcservice(web)' "$(node_log "$P" /var/log/pacemaker/pacemaker.log)" |
    grep -F "cannot pull member web's tree back from $T" | tail -1 > "$work/pull"
sed 's/^.*cannot pull/#  cannot pull/' "$work/pull"
grep -q "$(addr_of "$S").*refused from .*: its member migrated to $T" "$work/pull"
tap_ok $? "$S's receiver refused it the copy it left by the migration"
t=$(log_wait 60 "$t_off" "$S" "member web is active on $T .*: the newest tree is there, not here")
tap_ok "$([ -n "$t" ]; echo $?)" "$S's start is refused: the record names $T"
tap_is "$(record)" "$T" "the record still names $T"
tap_is "$(client curl -s --max-time 2 "http://$pa/mem")" "" "$P serves nothing (its tree is older)"
wait_for 180 sh -c "[ \"\$('$LAB' exec $S crm_resource --locate -r web 2> /dev/null | sed -n 's/.*running on: \(node[0-9]*\).*/\1/p')\" = $T ]"
tap_ok $? "$T back: web started there again ($(since "$t_off" "$(now)") after the power-off)"
wait_for 30 sh -c "[ \"\$(ip netns exec vchalab-client curl -s --max-time 1 http://$CS_ADDR/mark)\" = kept ]"
tap_ok $? "from its tree, whole"
ex node2 crm_resource --cleanup -r web > /dev/null 2>&1
sleep 5

# ------------------------------------------------------------ 5. failback
sleep 1
last=$(ex "$T" cat "$CS_SYNC/web/rootfs/www/mem")
ex node2 crm_resource --move -r www -N "$P" > /dev/null 2>&1
wait_for 90 sh -c "[ \"\$('$LAB' exec node2 crm_resource --locate -r web 2> /dev/null | sed -n 's/.*running on: \(node[0-9]*\).*/\1/p')\" = $P ]"
tap_ok $? "failback: web moved to $P"
ex node2 crm_resource --clear -r www > /dev/null 2>&1
wait_for 30 sh -c "[ \"\$(ip netns exec vchalab-client dig +short +time=1 +tries=1 @$DNS $NAME A | head -1)\" = $pa ]"
tap_ok $? "the name points at $P again"
served=$(client curl -s --max-time 2 "http://$pa/mem")
final=$(ex "$T" cat "$CS_SYNC/web/rootfs/www/mem")
tap_cond "${served:-0} == ${final:-1} && ${final:-0} >= ${last:-1}" \
    "$P serves the last count the member wrote on $T (${final:-?}, ${last:-?} at the move; serves ${served:-none}): pulled from $T"
tap_is "$(record)" "native:$P" "the record says native:$P"
wait_for 30 sh -c "! '$LAB' exec $S test -e $CS_SYNC/web/rootfs.vcha-active && ! '$LAB' exec $T test -e $CS_SYNC/web/rootfs.vcha-active"
tap_ok $? "both standby copies released (their markers removed)"
wait_for 60 sh -c "'$LAB' exec $S lxc-info -n web -s | grep -q RUNNING"
tap_ok $? "$S's member runs again as a standby"

cs_active_watch_stop
tap_is "$(awk '$2 > 1' "$work/watch" | wc -l)" 0 \
    "in $(wc -l < "$work/watch") samples web was never active on two nodes (native, or a member under its marker)"
tap_cond "$(awk '$2 == 1' "$work/watch" | wc -l) > 0" "and the samples saw it active (the watch works)"
tap_diag "scenario time: $(since "$t_start" "$(now)")"
tap_done
