#!/bin/bash
# Scenario 16: an in-VM container set (seed 000) - failback, no write lost.
# The service "web" of scenario 12 (tests/lab/ctset-common.sh), natively on
# node1, its tree synced into hot member "web" on the standby VM node3.
#   1. node1 powered off: web comes back in the member on node3, which
#      records where it is active (cluster property vcha-active-web); the
#      service goes on writing there (a writer on node3 counts into the
#      member's tree); node1 returns, and web stays on node3 (stickiness);
#   2. failback, an administrator's move of www to node1: node1's start
#      pulls the member's tree back before it starts the service, which
#      then serves the last count the member wrote (no write lost); the
#      record says native:node1, node3's ctset releases the member (its active
#      marker removed), which runs again as a standby, and node1's pushes
#      land in it again;
#   3. the standby lost after a failover: node1 fails again, web comes back
#      on node3 and writes there, node1 returns, then node3 is powered off:
#      node1 cannot pull the newer tree, so web does not start there (its
#      older tree is never served); node3 returns and web is served from
#      the member again, with every write it made; a failback then brings
#      them to node1;
#   4. all along, web was active on one node at most.
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
trap 'member_writer_stop; cs_watch_stop; ex node2 pcs resource clear www > /dev/null 2>&1; cs_cleanup; rm -rf "$work"' EXIT

# the record, asked of node2 (up throughout)
record() {
    ex node2 crm_attribute -t crm_config -s vcha-records -n vcha-active-web -G -q 2> /dev/null
}
# member_writer FROM: on node3, the service's writes in the member, counting
# on from FROM into its tree every 0.2 s; each value also kept in the lab's
# shared directory.  member_writer_stop ends it between two writes (a kill
# could fall between a count's write and its line in the log).
member_writer() {
    rm -f "$SHARED/member-writes.stop"
    ex "$S" sh -c "nohup sh -c 'n=$1; while [ ! -e /srv/shared/member-writes.stop ]; do n=\$((n + 1)); echo \$n > $CS_SYNC/web/rootfs/www/count.new &&
        mv $CS_SYNC/web/rootfs/www/count.new $CS_SYNC/web/rootfs/www/count && echo \$n >> /srv/shared/member-writes; sleep 0.2; done' \
        > /dev/null 2>&1 &"
}
member_writer_stop() {
    touch "$SHARED/member-writes.stop"
    wait_for 5 sh -c "! '$LAB' exec $S pgrep -f '[m]ember-writes' > /dev/null"
    ex "$S" pkill -f '[m]ember-writes' > /dev/null 2>&1
    rm -f "$SHARED/member-writes.stop"
}
wait_started() { # wait_started SECONDS NODE: until crm_mon shows web Started there
    local i
    for ((i = 0; i < $1; i++)); do
        [ "$(started_on web)" = "$2" ] && return 0
        sleep 1
    done
    return 1
}
wait_named() { # wait_named SECONDS ADDRESS: until the name points at it
    local i
    for ((i = 0; i < $1 * 2; i++)); do
        [ "$(cs_named)" = "$2" ] && return 0
        sleep 0.5
    done
    return 1
}
# failback: www moved to node1 and the move's constraint cleared; 0 once
# web is started there and the name points at it
failback() {
    ex node2 pcs resource move www "$P" > "$work/move" 2>&1 || return 1
    wait_started 180 "$P" || return 1
    ex node2 pcs resource clear www > /dev/null 2>&1
    wait_named 60 "$(addr_of "$P")"
}

cs_begin
rm -f "$SHARED/member-writes"
cs_ready 120
tap_ok $? "web runs natively on $P, its tree reached $S, the hot member answers"
tap_is "$(record)" "" "no record: the member is active nowhere"
cs_watch "$work/watch"

# ------------------------------------------------------------ 1. failover
cs_fail_primary
tap_is "$(record)" "$S" "1. the activation recorded where the member is active: vcha-active-web=$S"
c=$(cs_count $CS_ADDR)
member_writer "${c:-0}"
wait_for 240 cs_online "$P" "$S" node2
tap_ok $? "$P came back and rejoined"
sleep 10 # what the scheduler does with it
tap_is "$(started_on web)" "$S" "web stays on $S (stickiness: no automatic failback)"
# the power-off may fall between a count's write and its line in the log:
# the tree may hold the one count after the log's last
c=$(ex "$P" cat "$CS_TREE/www/count")
last=$(tail -1 "$SHARED/web-writes")
tap_cond "${c:-0} == ${last:-0} || ${c:-0} == ${last:-0} + 1" \
    "$P's tree is the one it left: its last count, older than the member's (tree $c, log $last)"
ex "$S" test -e "$CS_SYNC/web/rootfs.vcha-active"
tap_ok $? "the member's active marker stands"

# ------------------------------------------------------------ 2. failback
member_writer_stop
sleep 1
last=$(tail -1 "$SHARED/member-writes")
tap_cond "${last:-0} > $(tail -1 "$SHARED/web-writes")" \
    "the member wrote on while $P was away (up to $last)"
t0=$(now)
failback
tap_ok $? "2. www moved back to $P: web started there, $NAME points at it ($(since "$t0" "$(now)"))"
tap_is "$(cs_count "$(addr_of "$P")")" "$last" \
    "$P serves the last count the member wrote: no write lost"
log=$(node_log "$P" /var/log/pacemaker/pacemaker.log)
grep -q "failback: the tree of member web pulled back from $S" "$log"
tap_ok $? "$P pulled the member's tree back before it started the service"
grep -F 'failback: the tree of member web' "$log" | tail -1 | sed 's/^/#  /'
tap_is "$(record)" "native:$P" "the record says web failed back to $P (vcha-active-web=native:$P)"
wait_for 60 sh -c "! '$LAB' exec $S test -e $CS_SYNC/web/rootfs.vcha-active"
tap_ok $? "$S's ctset released the member: its active marker is gone"
grep -q "member web failed back" "$(node_log "$S" /var/log/pacemaker/pacemaker.log)"
tap_ok $? "and said so"
ex "$P" sh -c "echo after-failback > $CS_TREE/www/after"
wait_for 120 sh -c "ip netns exec vchalab-client curl -s --max-time 2 http://$CS_ADDR/after | grep -qx after-failback"
tap_ok $? "the member runs again as a standby, and $P's pushes land in it again"
tap_is "$(cs_count $CS_ADDR)" "$last" "it holds the newest count"

# ------------------------------------------------------------ 3. standby lost
ex "$P" pkill -f '[w]eb-writes'
rm -f "$SHARED/web-writes" "$SHARED/member-writes"
cs_ready 120
tap_ok $? "3. ready again: natively on $P, the member in step"
cs_fail_primary
tap_is "$(record)" "$S" "failed over again: vcha-active-web=$S"
c=$(cs_count $CS_ADDR)
member_writer "${c:-0}"
wait_for 240 cs_online "$P" "$S" node2
tap_ok $? "$P came back and rejoined"
sleep 3
member_writer_stop
sleep 1
last=$(tail -1 "$SHARED/member-writes")
t0=$(now)
lab poweroff "$S" 2> /dev/null
wait_fenced 90 node2 "$S" "$t0"
tap_ok $? "$S powered off: fenced"
for ((i = 0; i < 180; i++)); do
    t_fail=$(log_time "$t0" "$P" /var/log/pacemaker/pacemaker.log \
        "vcservice.*start failed.*cannot pull member web's tree back from $S")
    [ -n "$t_fail" ] && break
    sleep 0.5
done
tap_ok "$([ -n "$t_fail" ]; echo $?)" \
    "web's start on $P fails: it cannot pull the newer tree back from $S ($(since "$t0" "${t_fail:-}"))"
grep -F "start failed (OCF_ERR_GENERIC): cannot pull member web's tree back" \
    "$(node_log "$P" /var/log/pacemaker/pacemaker.log)" | tail -1 | sed 's/^/#  /'
tap_is "$(cs_who "$(addr_of "$P")")" "" "$P does not serve its older tree"
tap_is "$(record)" "$S" "the record still names $S"
wait_for 240 cs_online "$P" "$S" node2
tap_ok $? "$S came back and rejoined ($(since "$t0" "$(now)"))"
wait_started 180 "$S"
tap_ok $? "web started in the member on $S again ($(since "$t0" "$(now)"))"
wait_named 60 "$CS_ADDR"
tap_ok $? "$NAME points at it"
tap_is "$(cs_count $CS_ADDR)" "$last" "it serves the last count it wrote ($last)"
ex node2 pcs resource cleanup web > /dev/null 2>&1
t0=$(now)
failback
tap_ok $? "a failback then: web on $P ($(since "$t0" "$(now)"))"
tap_is "$(cs_count "$(addr_of "$P")")" "$last" "$P serves it too: no write lost"

cs_watch_stop
tap_is "$(awk '$2 > 1' "$work/watch" | wc -l)" 0 \
    "4. in $(wc -l < "$work/watch") samples web was never active on two nodes"
tap_diag "scenario time: $(since "$t_start" "$(now)")"
tap_done
