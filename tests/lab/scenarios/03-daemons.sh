#!/bin/bash
# Scenario 3: cluster daemons die.  corosync killed on a node: the others
# fence it and it comes back.  pacemaker-controld killed on a node: the
# cluster recovers as Pacemaker intends.  The service stays available: a
# client asks for it all along, and every answer must come from the node
# that ran it before.
set -u
here=$(cd "$(dirname "$0")/.." && pwd)
. "$here/../lib/tap.sh"
. "$here/common.sh"

[ "$(id -u)" = 0 ] || tap_bail "the lab needs root"
work=$(mktemp -d)
trap 'touch "$work/client1.stop" "$work/client2.stop"; wait; rm -rf "$work"' EXIT
all_online() {
    wait_for 120 sh -c "'$LAB' exec $1 crm_mon -1 | grep -q 'Online: \[ node1 node2 node3 \]'"
}
PACEMAKER_LOG=/var/log/pacemaker/pacemaker.log
# logged WHEN NODE PATTERN: whether NODE logged PATTERN at or after WHEN
# (an unknown WHEN: no)
logged() { [ -n "$1" ] && [ -n "$(log_time "$1" "$2" "$PACEMAKER_LOG" "$3")" ]; }
# served_throughout FILE NODE DESCRIPTION: every answer the client got while
# it watched came from NODE, and the client kept asking (no gap longer than
# its own timeouts allow)
served_throughout() {
    local samples secs gap answers
    read -r samples secs gap answers < <(client_watch_report "$1")
    tap_diag "client: $samples answers in $secs s, largest gap $gap s: $answers"
    tap_ok "$([ "$samples" -ge 10 ] && [ "$answers" = "served by $2 x$samples" ] &&
        awk -v g="$gap" 'BEGIN { exit !(g <= 5) }'; echo $?)" "$3"
}

lab up 3 > "$work/up.out" 2>&1 || { sed 's/^/#  /' "$work/up.out"; tap_bail "lab up failed"; }
configure
wait_for_page 60
tap_ok $? "the service is up"
wait_for 30 sh -c "'$LAB' exec node1 crm_mon -1 | grep -q 'www-dns.*Started'"
# and the cluster idle: what an earlier scenario left may still be moving
ex node1 crm_resource --wait --timeout=120 > /dev/null 2>&1

# ------------------------------------------------------------ corosync
# corosync dies on a node that does not run the service
svc=$(started_on web)
target=$(printf 'node1\nnode2\nnode3\n' | grep -vx "$svc" | head -1)
watcher=$(printf 'node1\nnode2\nnode3\n' | grep -vx "$target" | head -1)
boot=$(lab pid "$target")
client_watch "$work/client1"
mark=$(now)
ex "$target" pkill -9 -x corosync
tap_ok $? "corosync killed on $target"
wait_fenced 60 "$watcher" "$target" "$mark"
tap_ok $? "$target is fenced"
all_online "$watcher"
tap_ok "$([ $? = 0 ] && [ "$(lab pid "$target")" != "$boot" ]; echo $?)" \
    "$target comes back (a new boot) and rejoins"
client_watch_stop "$work/client1"
served_throughout "$work/client1" "$svc" "the service was not disturbed: always served by $svc"
logged "$mark" "$svc" "Result of stop operation for web on $svc"
tap_ok "$((!$?))" "web was not stopped on $svc"

# ------------------------------------------------------------ controld
# pacemaker-controld dies on the node that runs the service.  pacemakerd
# respawns it and the new controller rejoins the cluster.  What happens in
# between is the scheduler's rule (unpack.c, 3.0 as in 2.1): a node that is
# a member of the cluster while its controller is not is fenced ("peer
# process is no longer available").  When the controller is back before the
# scheduler runs, the DC probes the node's resources again and finds them
# running: nothing is stopped, moved or fenced.  When the scheduler runs
# first (it does at once when the controller that died was the DC's: the
# survivors elect a new DC, whose first run sees it), the node is fenced
# for that reason, and the service is recovered as after any fencing,
# unless the controller's return aborts that transition before its fencing
# is carried out (seen here): then, too, nothing moves.
svc=$(started_on web)
watcher=$(printf 'node1\nnode2\nnode3\n' | grep -vx "$svc" | head -1)
old=$(ex "$svc" pgrep -x pacemaker-contr)
boot=$(lab pid "$svc")
client_watch "$work/client2"
mark=$(now)
ex "$svc" kill -9 "$old"
tap_ok $? "pacemaker-controld (pid $old) killed on $svc"
wait_for 30 logged "$mark" "$svc" "pacemakerd.*pacemaker-controld\[$old\] terminated with signal 9"
tap_ok $? "pacemakerd saw it die"
# (its log, not its pid: a node fenced since then has new pids)
wait_for 30 logged "$mark" "$svc" "Respawning subdaemon pacemaker-controld"
tap_ok $? "pacemakerd respawns it"
# the new controller rejoins: as a node that is not the DC, or as the DC
wait_for 60 logged "$mark" "$svc" "State transition (S_PENDING -> S_NOT_DC|S_ELECTION -> S_INTEGRATION)"
tap_ok $? "the new controller rejoins the cluster"
t_join=$(log_time "$mark" "$svc" "$PACEMAKER_LOG" "State transition (S_PENDING -> S_NOT_DC|S_ELECTION -> S_INTEGRATION)")
# logged_anywhere WHEN PATTERN: whether any node logged PATTERN since WHEN
logged_anywhere() {
    local n
    for n in node1 node2 node3; do
        logged "$1" "$n" "$2" && return 0
    done
    return 1
}
# settled: after that, the DC (whichever node) has finished its transitions
settled() { logged_anywhere "$t_join" "State transition .* -> S_IDLE"; }
# fence_reasons: every reason a scheduler gave since the kill for fencing
# svc, one a line (a transition that planned it may still have been
# aborted by the controller's return: what was carried out is the
# fencer's log)
fence_reasons() {
    local n mo d hms rest t
    for n in node1 node2 node3; do
        grep -E "Cluster node $svc will be fenced: " "$(node_log "$n" "$PACEMAKER_LOG")" 2> /dev/null |
            while read -r mo d hms rest; do
                t=$(date -d "$mo $d $hms" +%s.%N)
                awk -v a="$t" -v b="$mark" 'BEGIN { exit !(a >= b - 0.001) }' &&
                    echo "${rest##*will be fenced: }"
            done
    done | sort -u
}
recovered() { [ -n "$(started_on web)" ] && page | grep -q served; }
# whether it was fenced is known once the DC is idle after the rejoin
wait_for 60 settled
settled=$?
if logged "$mark" "$watcher" "finalize_op.*targeting $svc "; then
    tap_is "$(fence_reasons | tr '\n' ';')" "peer process is no longer available;" \
        "$svc was fenced because the scheduler ran while its controller was gone, and for no other reason"
    all_online "$watcher"
    tap_ok "$([ $? = 0 ] && [ "$(lab pid "$svc")" != "$boot" ]; echo $?)" \
        "$svc comes back (a new boot) and rejoins"
    wait_for 60 recovered
    tap_ok $? "web runs again ($(started_on web)) and the client is served"
    sleep 1
    client_watch_stop "$work/client2"
    tap_diag "client: $(client_watch_report "$work/client2")"
    tap_is "$(tail -1 "$work/client2" | cut -d' ' -f2-)" "served by $(started_on web)" \
        "the client's last answer came from where web runs now"
else
    tap_is "$(lab pid "$svc")" "$boot" "$svc was not fenced (the same boot)"
    state=$(ex "$watcher" crm_mon -1 2> /dev/null | grep -E "OFFLINE|Online|UNCLEAN|pending|web" | tr -s ' \t' ' ' | tr '\n' ';')
    tap_diag "after the controller of $svc died: $state"
    tap_ok "$([ $settled = 0 ] && [[ $state == *"Online: [ node1 node2 node3 ]"* ]] &&
        [[ $state != *UNCLEAN* ]] && [[ $state != *pending* ]]; echo $?)" \
        "the controller was back before a fencing was carried out: the cluster settles, all three nodes online, none unclean"
    client_watch_stop "$work/client2"
    served_throughout "$work/client2" "$svc" "the service stayed on $svc, served throughout"
    tap_is "$(started_on web)" "$svc" "web still runs on $svc"
fi
tap_done
