#!/bin/bash
# Scenario 14: an in-VM container set (seed 000) - bad input, on a running
# set.  The service "web" of scenario 12 runs natively on node1, member
# "web" hot on the standby VM node3 (tests/lab/ctset-common.sh); then:
#   1. a member with no synced tree: member "ghost" joins the set (cold),
#      and service "ghost", which may run only on the standby VM, fails to
#      start there, saying its member was never synced;
#   2. a port that never opens: service "deaf" on node2 starts a program
#      that never listens on its port; start fails naming the port, and
#      what it started is stopped;
#   3. a container name clash: member "clash" joins the set while node3
#      has a container of that name that ctset did not write; ctset fails
#      on node3 naming the configuration, which it leaves as it was; taken
#      out of the set again, the set runs and member web is hot again;
#   4. all along: web, ghost and deaf were each active on one node at
#      most, and the client was served by web on node1.
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
WATCH_PID=
bad_cleanup() {
    ex node1 pcs resource delete ghost > /dev/null 2>&1
    ex node1 pcs resource delete deaf > /dev/null 2>&1
    ex node2 sh -c 'pkill -f "[v]cha-lab-deaf"; rm -f /run/deaf.pid' > /dev/null 2>&1
    ex "$S" rm -rf /var/lib/lxc/clash /var/lib/lxc/ghost > /dev/null 2>&1
}
trap '[ -n "$WATCH_PID" ] && kill "$WATCH_PID" 2> /dev/null; bad_cleanup; cs_cleanup; rm -rf "$work"' EXIT

cs_begin
bad_cleanup # (a run stopped half-way)
cs_ready 120
tap_ok $? "web runs natively on $P, its tree reached $S, the hot member answers"

# failed_reason RESOURCE OP: the exit reason of RESOURCE's failed OP, as
# crm_mon shows it (asked on node2)
failed_reason() {
    ex node2 crm_mon -1 --output-as=xml 2> /dev/null |
        sed -n "s/.*<failure [^>]*op_key=\"$1_$2_0\"[^>]*exitreason=\"\([^\"]*\)\".*/\1/p" | head -1
}
wait_failed() { # wait_failed SECONDS RESOURCE OP
    wait_for "$1" sh -c "'$LAB' exec node2 crm_mon -1 --output-as=xml | grep -q '<failure [^>]*op_key=\"$2_$3_0\"'"
}
members() { # members EXTRA...: update the set's members, web and EXTRA
    ex node1 pcs resource update ctset members="web:hot:$CS_ADDR/24${1:+ $*}"
}

# ------------------------------------------------------------ the watcher
# How many nodes have web, ghost and deaf active (asked on node2), and
# what the client gets from web on node1, every 0.5 s.
(
    while :; do
        line=$(now)
        for r in web ghost deaf; do
            line+=" $(ex node2 crm_resource --locate -r $r 2> /dev/null | grep -c 'running on')"
        done
        got=$(client curl -s --connect-timeout 1 --max-time 2 \
            "http://$(addr_of "$P")/cgi-bin/who" 2> /dev/null)
        echo "$line ${got:-none}"
        sleep 0.5
    done > "$work/watch"
) &
WATCH_PID=$!

# ------------------------------------------------------------ 1. no tree
members "ghost:cold:198.18.0.72/24" > "$work/out" 2>&1
tap_ok $? "1. member ghost joins the set (cold)"
out=$(
    set -e
    ex node1 pcs resource create ghost ocf:vcha:vcservice primary=node2 \
        member=ghost address="$(addr_of node2)" ports=80 \
        start_cmd=/bin/true op monitor interval=5s --disabled
    ex node1 pcs constraint location ghost rule score=-INFINITY \
        "#uname ne $S" 2>&1
    ex node1 pcs resource enable ghost
    2>&1) || sed 's/^/#  /' <<< "$out"
wait_failed 60 ghost start
tap_ok $? "service ghost, allowed on $S alone, fails to start there"
tap_like "$(failed_reason ghost start)" "member ghost was never synced*" \
    "saying its member was never synced: $(failed_reason ghost start)"
sleep 5
tap_is "$(started_on ghost)" "" "ghost is active nowhere"
ex "$S" lxc-info -n ghost -s 2> /dev/null | grep -q RUNNING
tap_ok $((!$?)) "member ghost's container does not run"
ex node1 pcs resource delete ghost > /dev/null 2>&1
members > /dev/null 2>&1

# ------------------------------------------------------------ 2. deaf
out=$(
    set -e
    ex node1 pcs resource create deaf ocf:vcha:vcservice primary=node2 \
        member=deaf address="$(addr_of node2)" ports=8181 \
        start_cmd="/sbin/start-stop-daemon --start --background --make-pidfile --pidfile /run/deaf.pid --exec /bin/sleep -- 1000 vcha-lab-deaf" \
        stop_cmd="/sbin/start-stop-daemon --stop --oknodo --remove-pidfile --pidfile /run/deaf.pid" \
        op start timeout=20s op monitor interval=5s --disabled
    ex node1 pcs constraint location deaf rule score=-INFINITY "#uname ne node2"
    ex node1 pcs resource enable deaf
    2>&1) || sed 's/^/#  /' <<< "$out"
t0=$(now)
wait_failed 60 deaf start
tap_ok $? "2. service deaf, whose program never listens, fails to start on node2 ($(since "$t0" "$(now)"))"
tap_like "$(failed_reason deaf start)" "port 8181 on $(addr_of node2) does not accept connections*" \
    "naming the port: $(failed_reason deaf start)"
wait_for 30 sh -c "! '$LAB' exec node2 pgrep -f vcha-lab-deaf"
tap_ok $? "what it started was stopped"
tap_is "$(started_on deaf)" "" "deaf is active nowhere"
ex node1 pcs resource delete deaf > /dev/null 2>&1

# ------------------------------------------------------------ 3. clash
ex "$S" sh -c "mkdir -p /var/lib/lxc/clash && printf 'lxc.uts.name = clash\n' > /var/lib/lxc/clash/config"
sum0=$(ex "$S" sha256sum /var/lib/lxc/clash/config)
members "clash:cold:198.18.0.73/24" > "$work/out" 2>&1
wait_for 60 sh -c "'$LAB' exec node2 crm_mon -1 --output-as=xml | grep -q '<failure [^>]*op_key=\"ctset_[a-z]*_[0-9]*\" node=\"$S\"'"
tap_ok $? "3. member clash joins the set while $S has a container of that name: ctset fails on $S"
reason=$(ex node2 crm_mon -1 --output-as=xml 2> /dev/null |
    sed -n "s/.*<failure [^>]*op_key=\"ctset_[a-z]*_[0-9]*\" node=\"$S\"[^>]*exitreason=\"\([^\"]*\)\".*/\1/p" | head -1)
tap_is "$reason" "member clash: container name clash: /var/lib/lxc/clash/config (not written by ctset)" \
    "naming the configuration: $reason"
tap_is "$(ex "$S" sha256sum /var/lib/lxc/clash/config)" "$sum0" "which it left as it was"
members > "$work/out" 2>&1
tap_ok $? "clash taken out of the set"
ex node1 pcs resource cleanup ctset-clone > /dev/null 2>&1
wait_for 120 sh -c "ip netns exec vchalab-client curl -s --max-time 2 http://$CS_ADDR/cgi-bin/who | grep -q 'served by web'"
tap_ok $? "the set runs on $S again and member web answers"

kill "$WATCH_PID" 2> /dev/null
wait "$WATCH_PID" 2> /dev/null
WATCH_PID=
n=$(wc -l < "$work/watch")
tap_is "$(awk '$2 > 1 || $3 > 1 || $4 > 1' "$work/watch" | wc -l)" 0 \
    "4. in $n samples web, ghost and deaf were each active on one node at most"
tap_is "$(awk '$5 != "served" || $7 != "node1"' "$work/watch" | wc -l)" 0 \
    "and the client was always served by web on $P"
tap_is "$(started_on web)" "$P" "web stayed on $P"
tap_diag "scenario time: $(since "$t_start" "$(now)")"
tap_done
