#!/bin/bash
# Scenario 15: an in-VM container set (seed 000) - a cold member fails over.
# The service "web" of scenario 12 (tests/lab/ctset-common.sh), natively on
# node1, its tree synced into member "web" on the standby VM node3; the
# member is cold: its configuration is written, the container does not run.
#   1. ready: the tree on node3, its last batch completed, the member
#      stopped, nothing answering on its address;
#   2. node1 powered off while a writer on it counts into the tree: fenced,
#      vcservice boots the member on node3 and activates it, the name points
#      at it, the client is served the newest count node1 wrote (within the
#      sync lag); each phase timed, and how long the activation took, the
#      boot included (tests/bench/ctset-cold sets it beside a QEMU VM's);
#   3. all along, web was active on one node at most.
set -u
here=$(cd "$(dirname "$0")/.." && pwd)
. "$here/../lib/tap.sh"
. "$here/common.sh"
CS_MODE=cold
. "$here/ctset-common.sh"

[ "$(id -u)" = 0 ] || tap_bail "the lab needs root"
P=$CS_P
S=$CS_S
work=$(mktemp -d)
t_start=$(now)
trap 'cs_watch_stop; cs_cleanup; rm -rf "$work"' EXIT
cs_begin

# ------------------------------------------------------------ 1. ready
cs_ready 120
tap_ok $? "1. web runs natively on $P, its tree reached $S, its last batch completed"
ex "$S" lxc-info -n web -s 2> /dev/null | grep -q STOPPED
tap_ok $? "the cold member is configured and stopped"
tap_is "$(cs_who $CS_ADDR)" "" "nothing answers on its address, $CS_ADDR"

# ------------------------------------------------------------ 2. failover
cs_watch "$work/watch"
cs_fail_primary
read -r t_fence t_web t_dns t_client <<< "$CS_TIMES"
t0=$CS_T0
cs_hot
tap_ok $? "the member was booted, and runs on $S"
tap_is "$(cs_named)" "$CS_ADDR" "$NAME points at it"
log=$(node_log "$S" /var/log/pacemaker/pacemaker.log)
t_req=$(log_time "$t0" "$S" /var/log/pacemaker/pacemaker.log "Requesting local execution of start operation for web on $S")
t_fence=${t_fence/\?/}
t_web=${t_web/\?/}
t_dns=${t_dns/\?/}
tap_diag "timeline: power-off 0, fenced $(since "$t0" "$t_fence"), web's start asked $(since "$t0" "$t_req"), web active in the booted member $(since "$t0" "$t_web"), DNS $(since "$t0" "$t_dns"), client $(since "$t0" "${t_client:-}")"
tap_diag "the activation, the boot included: $(since "${t_req:-$t0}" "$t_web")"
grep -F 'vcservice(web)' "$log" | tail -3 | sed 's/^/#  /'

cs_watch_stop
tap_is "$(awk '$2 > 1' "$work/watch" | wc -l)" 0 \
    "3. in $(wc -l < "$work/watch") samples web was never active on two nodes"
wait_for 120 sh -c "'$LAB' exec $S crm_mon -1 | grep -q 'Online: \[ node1 node2 node3 \]'"
tap_ok $? "$P came back and rejoined"
tap_diag "scenario time: $(since "$t_start" "$(now)")"
tap_done
