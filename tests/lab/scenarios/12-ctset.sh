#!/bin/bash
# Scenario 12: an in-VM container set (seed 000) - a hot member fails over.
# node1 is the primary VM of service "web": busybox httpd on its own address
# serving a tree (/srv/web-vm, the VM's root as far as the service goes),
# ocf:vcha:vcservice in native mode, whose filesync job pushes the tree to
# the standby.  node3 is the standby VM (vcha-standby=true): ocf:vcha:ctset
# runs the sync receiver (an rsync daemon, a module per member) and keeps
# member "web" running hot, an LXC container on node3's bridge with its own
# address, rooted at the synced tree.  www.lab.vcha.test follows the
# service (ocf:vcha:dnsswitch, grouped with it).  (tests/lab/ctset-common.sh)
#   1. native: the client is served by node1; the name points at node1;
#   2. the tree reaches the standby, the batch marker says complete, the hot
#      container runs and answers on its own address (ready, not serving:
#      the name still points at node1);
#   3. node1 powered off while a writer on it counts into the tree every
#      0.2 s: node1 is fenced, vcservice starts on node3 in container mode,
#      the name points at the container, the client is served by it, and
#      the count it reads is the last node1 wrote, within the sync lag (2 s
#      of writes at most); each phase timed from the logs;
#   4. the active marker stands beside the member's tree: node1 comes back,
#      and the service stays in the container (no automatic failback),
#      nothing answers on node1's address;
#   5. all along, the cluster had web active on one node at most, and the
#      name never went back to node1 once it pointed at the container.
set -u
here=$(cd "$(dirname "$0")/.." && pwd)
. "$here/../lib/tap.sh"
. "$here/common.sh"
. "$here/ctset-common.sh"

[ "$(id -u)" = 0 ] || tap_bail "the lab needs root"
P=$CS_P
S=$CS_S
work=$(mktemp -d)
t_start=$(now)
trap 'cs_watch_stop; cs_cleanup; rm -rf "$work"' EXIT
cs_begin

# ------------------------------------------------------------ 1. native
wait_for 90 sh -c "[ \"\$(ip netns exec vchalab-client dig +short +time=1 +tries=1 @$DNS $NAME A)\" = $(addr_of "$P") ]"
tap_is "$(started_on web)" "$P" "web runs on its primary VM, $P"
tap_is "$(cs_named)" "$(addr_of "$P")" "$NAME points at $P"
tap_like "$(cs_who "$(addr_of "$P")")" "served by $P*" "the client is served by $P"

# ------------------------------------------------------------ 2. standby
cs_ready 90
tap_is "$(cs_state)" complete "the tree reached $S: its last batch completed"
cs_hot
tap_ok $? "the hot member runs on $S"
tap_like "$(cs_who $CS_ADDR)" "served by web*" "and answers on its own address, $CS_ADDR"
tap_is "$(cs_named)" "$(addr_of "$P")" "while the name still points at $P"

# ------------------------------------------------------------ 5. the watcher
cs_watch "$work/watch"

# ------------------------------------------------------------ 3. failover
cs_fail_primary
read -r t_fence t_web t_dns t_client <<< "$CS_TIMES"
t0=$CS_T0
tap_is "$(cs_named)" "$CS_ADDR" "$NAME points at the container"
t_fence=${t_fence/\?/}
t_web=${t_web/\?/}
t_dns=${t_dns/\?/}
tap_diag "timeline: power-off 0, fenced $(since "$t0" "$t_fence"), web active in the container $(since "$t0" "$t_web"), DNS $(since "$t0" "$t_dns"), client $(since "$t0" "${t_client:-}")"
# what vcservice said on S about the activation
grep -F 'vcservice(web)' "$(node_log "$S" /var/log/pacemaker/pacemaker.log)" |
    tail -4 | sed 's/^/#  /'

# ------------------------------------------------------------ 4. no failback
ex "$S" test -s "$CS_SYNC/web/rootfs.vcha-active"
tap_ok $? "the active marker stands beside the member's tree"
wait_for 120 sh -c "'$LAB' exec $S crm_mon -1 | grep -q 'Online: \[ node1 node2 node3 \]'"
tap_ok $? "$P came back and rejoined"
sleep 10
tap_is "$(started_on web)" "$S" "web stays in the container (no automatic failback)"
tap_is "$(cs_who "$(addr_of "$P")")" "" "nothing serves on $P's address"

cs_watch_stop
tap_is "$(awk '$2 > 1' "$work/watch" | wc -l)" 0 \
    "in $(wc -l < "$work/watch") samples web was never active on two nodes"
back=$(awk -v c="$CS_ADDR" -v p="$(addr_of "$P")" '$3 == c { s = 1 } s && $3 == p' "$work/watch" | wc -l)
tap_is "$back" 0 "and once the name pointed at the container, never back at $P"
tap_diag "scenario time: $(since "$t_start" "$(now)")"
tap_done
