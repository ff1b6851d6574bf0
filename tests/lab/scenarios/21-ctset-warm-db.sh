#!/bin/bash
# Scenario 21: an in-VM container set (seed 000) - a database in a warm
# member.  The service "db" is Redis from Debian's packages (redis-server,
# in a trixie root built once by tests/lab/ct-root: the primary VM's tree),
# its data in an append-only file written through (appendfsync always):
# natively on node1, started from its tree; the tree synced into member
# "db" of an ocf:vcha:ctset clone on the standby VM node3.  The member is
# warm: it runs, idle, while the sync rewrites the database's files under
# it, and the database is started in it only at activation (vcservice's
# activate_cmd; deactivate_cmd shuts it down cleanly).  ocf:vcha:dnsswitch
# moves db.lab.vcha.test with it.  A client appends a number to a list
# through the name, 7 times a second, and keeps each acknowledged one.
#   1. ready: the member runs and holds the database's files, but no
#      database answers in it;
#   2. a planned move to node3 while the client writes, and back: node1's
#      stop pushes once more after the database stopped, and no
#      acknowledged write is lost either way;
#   3. node1 powered off: fenced, the database started in the member on
#      node3 from the synced files, the name switched, the client's writes
#      acknowledged there; of the writes acknowledged before, the member
#      has an unbroken run from the first, and lost only those of the sync
#      lag; each phase timed;
#   4. node1 returns: db stays in the member (no automatic failback), the
#      client writing on;
#   5. failback while the client writes, an administrator's move: the
#      database in the member shut down, its files pulled back to node1,
#      the database started there; no write the member acknowledged is
#      lost, nor any other but those of step 3's sync lag; the member
#      released, a warm standby again with no database running, and
#      node1's pushes land in it again;
#   6. all along, the database was active on one node at most.
set -u
here=$(cd "$(dirname "$0")/.." && pwd)
. "$here/../lib/tap.sh"
. "$here/common.sh"
. "$here/ctset-common.sh"

[ "$(id -u)" = 0 ] || tap_bail "the lab needs root"
NAME=db.lab.vcha.test # (cs_named asks for it)
P=node1
S=node3
PA=$(addr_of $P)
TREE=/srv/db-vm      # on P: the database VM's tree
ADDR=198.18.0.74     # the member's own address
AOF=var/lib/redis/appendonlydir
REDIS="/usr/bin/redis-server /etc/redis/redis.conf --protected-mode no --appendonly yes --appendfsync always"
work=$(mktemp -d)
t_start=$(now)

db_cleanup() {
    local n
    ex node1 pcs resource delete dbs > /dev/null 2>&1
    ex node1 pcs resource delete db-dns > /dev/null 2>&1
    ex node1 pcs resource delete db > /dev/null 2>&1
    ex node1 pcs resource delete dbset-clone > /dev/null 2>&1
    ex node1 pcs node attribute $S vcha-standby= > /dev/null 2>&1
    ex node1 crm_attribute -t crm_config -s vcha-records -n vcha-active-db -D > /dev/null 2>&1
    ex $S sh -c "lxc-stop -n db -k; rm -rf $CS_SYNC/db /var/lib/lxc/db" > /dev/null 2>&1
    for n in node1 node2 node3; do
        ex $n sh -c "start-stop-daemon --stop --oknodo --remove-pidfile --pidfile /run/db.pid \
            --retry KILL/5; rm -rf $TREE" > /dev/null 2>&1
    done
}
trap 'writer_stop; cs_active_watch_stop; ex node2 pcs resource clear dbs > /dev/null 2>&1
    db_cleanup; rm -rf "$SHARED/db-root" "$work"' EXIT

# db_configure: node1's tree (the root, and the sync's secrets on both
# ends), the set and the service group, created disabled, then enabled
db_configure() {
    ex $P sh -c "rm -rf $TREE && cp -a /srv/shared/db-root $TREE &&
        mkdir -p /etc/vcha && umask 077 && echo lab-sync-secret > /etc/vcha/sync.password" &&
        ex $S sh -c "mkdir -p /etc/vcha $CS_SYNC && umask 077 &&
            echo db:lab-sync-secret > /etc/vcha/rsyncd.secrets" || return 1
    set -e
    ex node1 pcs node attribute $S vcha-standby=true
    ex node1 pcs resource create dbset ocf:vcha:ctset \
        members="db:warm:$ADDR/24" receiver_address="$(addr_of $S)" \
        receiver_port=$CS_PORT secrets_file=/etc/vcha/rsyncd.secrets \
        sync_dir=$CS_SYNC bridge=br0 op monitor interval=5s timeout=30s clone --disabled
    ex node1 pcs resource meta dbset-clone interleave=true
    ex node1 pcs constraint location dbset-clone rule score=-INFINITY \
        "not_defined vcha-standby or vcha-standby ne true"
    ex node1 pcs resource create db ocf:vcha:vcservice \
        primary=$P member=db address="$PA" ports=6379 \
        start_cmd="/sbin/start-stop-daemon --start --background --make-pidfile --pidfile /run/db.pid --exec /usr/sbin/chroot -- $TREE $REDIS --bind $PA --daemonize no" \
        stop_cmd="/sbin/start-stop-daemon --stop --oknodo --remove-pidfile --pidfile /run/db.pid --retry TERM/20/KILL/5" \
        activate_cmd="$REDIS --bind 0.0.0.0 --daemonize yes --pidfile /run/redis-server.pid" \
        deactivate_cmd="/usr/bin/redis-cli shutdown" \
        sync_target="rsync://db@$(addr_of $S):$CS_PORT/db" \
        sync_password_file=/etc/vcha/sync.password sync_source=$TREE \
        address_attribute=db-address \
        op monitor interval=5s timeout=30s OCF_CHECK_LEVEL=10 \
        op start timeout=60s op stop timeout=60s --disabled
    ex node1 pcs resource create db-dns ocf:vcha:dnsswitch \
        name=$NAME address_attribute=db-address server=$DNS \
        keyfile=/etc/vcha/lab.key ttl=5 op monitor interval=5s --disabled
    ex node1 pcs resource group add dbs db db-dns
    ex node1 pcs resource meta dbs resource-stickiness=200
    ex node1 pcs constraint location dbs prefers $P=100
    ex node1 pcs constraint location dbs rule score=-INFINITY \
        "#uname ne $P and vcha-standby ne true"
    ex node1 pcs resource enable dbset-clone db db-dns
    set +e
}

rcli() { client timeout 2 redis-cli -h "$@" 2> /dev/null; }
# the member's last batch, as its receiver marked it
db_state() { ex $S vcha-receive --state "$CS_SYNC/db/rootfs" 2> /dev/null | sed -n 's/^state=//p'; }
member_runs() { ex $S lxc-info -n db -s 2> /dev/null | grep -q RUNNING; }

# writer: the client appends 1, 2, 3 ... to list "acks" at the address the
# name gives, every 0.1 s; "N ADDRESS T-ASKED T-ACKNOWLEDGED" in
# $work/acks for each write acknowledged (an integer reply: the list's
# length).  writer_stop ends it between two writes.
writer() {
    rm -f "$work/acks" "$work/writer.stop"
    (
        n=0
        while [ ! -e "$work/writer.stop" ]; do
            n=$((n + 1))
            ip=$(cs_named)
            t=$(now)
            r=$(rcli "${ip:-0.0.0.0}" RPUSH acks $n)
            [[ $r =~ ^[0-9]+$ ]] && echo "$n $ip $t $(now)" >> "$work/acks"
            sleep 0.1
        done
    ) &
    WRITER_PID=$!
}
writer_stop() {
    [ -n "${WRITER_PID:-}" ] || return 0
    touch "$work/writer.stop"
    wait "$WRITER_PID" 2> /dev/null
    WRITER_PID=
}
# acked ADDRESS [AFTER]: the numbers ADDRESS acknowledged (asked after
# epoch AFTER), one a line
acked() { awk -v a="$1" -v t="${2:-0}" '$2 == a && $3 >= t { print $1 }' "$work/acks"; }
# wait_acked SECONDS ADDRESS AFTER: until ADDRESS acknowledged a write
# asked after AFTER; prints when it did
wait_acked() {
    local i t
    for ((i = 0; i < $1 * 20; i++)); do
        t=$(awk -v a="$2" -v t="$3" '$2 == a && $3 >= t { print $4; exit }' "$work/acks" 2> /dev/null)
        [ -n "$t" ] && { echo "$t"; return 0; }
        sleep 0.05
    done
    return 1
}

root=$("$here/ct-root" redis-server redis-tools 2> "$work/root.out") ||
    { sed 's/^/#  /' "$work/root.out"; tap_bail "the Debian root with Redis was not built"; }
lab up 3 > "$work/up" 2>&1 || { sed 's/^/#  /' "$work/up"; tap_bail "lab up failed"; }
db_cleanup
rm -rf "$SHARED/db-root" && cp -a "$root" "$SHARED/db-root" ||
    tap_bail "cannot copy the Debian root into the lab's shared directory"
(db_configure) > "$work/create" 2>&1
tap_is "$?" 0 "the set (ctset clone, a warm member) and the database (vcservice, dnsswitch) configured"
sed 's/^/#  /' "$work/create"

# ------------------------------------------------------------ 1. ready
ready() {
    [ "$(cs_named)" = "$PA" ] && [ "$(db_state)" = complete ] && member_runs &&
        [ "$(rcli "$PA" PING)" = PONG ]
}
wait_for 180 ready
tap_ok $? "1. the database runs natively on $P, the name points at it, its tree reached $S, the member runs"
ex $P chroot $TREE dpkg-query -W -f '${Version}' redis-server > "$work/version" 2> /dev/null
tap_is "$(ex $S cat $CS_SYNC/db/rootfs/var/lib/dpkg/status | grep -A10 -x 'Package: redis-server' |
    sed -n 's/^Version: //p')" "$(cat "$work/version")" \
    "the member's tree holds the same Redis package ($(cat "$work/version"))"
tap_is "$(rcli $ADDR PING)" "" "the warm member runs no database: nothing answers on $ADDR:6379"
procs=$(ex $S lxc-attach -n db -- /bin/sh -c 'cat /proc/[0-9]*/comm' 2> /dev/null)
tap_cond "$(grep -c . <<< "$procs") > 0 && $(grep -c redis <<< "$procs") == 0" \
    "and no redis-server runs inside it (it runs: $(sort -u <<< "$procs" | tr '\n' ' '))"
cs_active_watch "$work/active" "node1 node2 node3" db
writer
wait_for 30 sh -c "[ \$(wc -l < '$work/acks') -ge 20 ]"
tap_ok $? "the client's writes are acknowledged by $P ($(wc -l < "$work/acks") so far)"
sleep 5
ex $S sh -c "ls $CS_SYNC/db/rootfs/$AOF" > "$work/aof" 2>&1
tap_ok "$(grep -q 'incr.aof$' "$work/aof"; echo $?)" \
    "the member's tree holds the database's append-only file ($(grep incr "$work/aof"))"

# ------------------------------------------------------------ 2. a planned move
# move_to NODE ADDRESS: dbs moved to NODE by an administrator's move, its
# constraint cleared; when ADDRESS acknowledged the client's first write
# after the move (or nothing, failing)
move_to() {
    local t i
    t=$(now)
    ex node2 pcs resource move dbs "$1" > "$work/move" 2>&1 || return 1
    for ((i = 0; i < 180; i++)); do
        [ "$(started_on db)" = "$1" ] && break
        sleep 1
    done
    ex node2 pcs resource clear dbs > /dev/null 2>&1
    wait_acked 60 "$2" "$t"
}
# unbroken ACKED LIST: of the numbers in file ACKED (in the order made),
# those in file LIST must be the first ones: "HELD LOST BROKEN" (BROKEN:
# held ones after a lost one)
unbroken() {
    awk 'FILENAME == ARGV[1] { l[$1] = 1; next }
         { if ($1 in l) { held++; if (lost) broken++ } else lost++ }
         END { print held + 0, lost + 0, broken + 0 }' "$2" "$1"
}
# aof_bytes NODE DIR: the size of the append-only file under tree DIR
aof_bytes() { ex "$1" sh -c "cat $2/$AOF/*.incr.aof | wc -c" 2> /dev/null; }
t_move=$(now)
t_ack=$(move_to $S $ADDR)
tap_ok $? "2. a planned move of dbs to $S while the client writes: the member acknowledges them ($(since "$t_move" "$t_ack"))"
acked $PA > "$work/p-acked"
rcli $ADDR LRANGE acks 0 -1 > "$work/list"
read -r held lost broken <<< "$(unbroken "$work/p-acked" "$work/list")"
tap_is "$lost $broken $([ "$held" -gt 0 ]; echo $?)" "0 0 0" \
    "no write $P acknowledged is lost: the member holds all $held"
last='vcservice\(db\).*: last push to member db \(.*\): [1-9][0-9]* files'
t_last=$(log_time "$t_move" $P /var/log/pacemaker/pacemaker.log "$last")
tap_ok "$([ -n "$t_last" ]; echo $?)" "$P's stop pushed once more after the database stopped, with what it wrote"
grep -E "$last" "$(node_log $P /var/log/pacemaker/pacemaker.log)" | tail -1 | sed 's/^/#  /'
t1=$(now)
t_ack=$(move_to $P "$PA")
tap_ok $? "and back (a failback): $P acknowledges the client's writes ($(since "$t1" "$t_ack"))"
awk '{ print $1 }' "$work/acks" > "$work/all-acked"
rcli "$PA" LRANGE acks 0 -1 > "$work/list"
read -r held lost broken <<< "$(unbroken "$work/all-acked" "$work/list")"
tap_is "$lost $broken $([ "$held" -gt 0 ]; echo $?)" "0 0 0" \
    "no acknowledged write is lost: $P holds all $held"
# the member released, and in step again before the power-off: what a
# failover loses is then the sync lag's, not the release's
wait_for 60 ex $S test ! -e $CS_SYNC/db/rootfs.vcha-active
tap_ok $? "$S's ctset released the member"
b=$(aof_bytes $P $TREE)
for ((i = 0; i < 60; i++)); do
    [ "$(aof_bytes $S $CS_SYNC/db/rootfs)" -ge "${b:-1}" ] 2> /dev/null && break
    sleep 1
done
tap_cond "$i < 60 && ${b:-0} > 0" "$P's pushes land in it again (its append-only file at $b bytes)"

# ------------------------------------------------------------ 3. failover
t0=$(now)
lab poweroff $P 2> /dev/null
t_client=$(wait_acked 120 $ADDR "$t0")
tap_ok $? "3. $P powered off: the client's writes are acknowledged by the member ($(since "$t0" "$t_client"))"
wait_fenced 60 $S $P "$t0"
tap_ok $? "$P fenced"
t_fence=$(log_time "$t0" $S /var/log/pacemaker/pacemaker.log "finalize_op.*targeting $P .*OK")
t_req=$(log_time "$t0" $S /var/log/pacemaker/pacemaker.log "Requesting local execution of start operation for db on $S")
t_db=$(log_time "$t0" $S /var/log/pacemaker/pacemaker.log "Result of start operation for db on $S: OK")
t_dns=$(log_time_wait "$t0" $S /var/log/pacemaker/pacemaker.log "dnsswitch.*$NAME.*now points to")
tap_diag "timeline: power-off 0, fenced $(since "$t0" "$t_fence"), db's start asked $(since "$t0" "$t_req"), the database active in the member $(since "$t0" "$t_db"), DNS $(since "$t0" "$t_dns"), the first write acknowledged there $(since "$t0" "$t_client")"
tap_diag "the activation (the database started from the synced files, the port checked): $(since "${t_req:-$t0}" "$t_db")"
located=$(ex $S crm_resource --locate -r db 2> /dev/null |
    sed -n 's/.*running on: \(node[0-9]*\).*/\1/p' | tr '\n' ' ')
tap_is "$located" "$S " "db started on $S, and only there"
tap_is "$(cs_named)" "$ADDR" "$NAME points at the member"
# what the member holds of what P acknowledged (P acknowledges until its
# power-off, a moment after t0, and the member only after it)
rcli $ADDR LRANGE acks 0 -1 > "$work/list"
awk -v t="$t_client" '$4 < t { print $1 }' "$work/acks" > "$work/before"
read -r held lost broken <<< "$(unbroken "$work/before" "$work/list")"
tap_is "$broken $([ "$held" -gt 0 ]; echo $?)" "0 0" \
    "the member holds the writes acknowledged before the power-off as an unbroken run from the first ($held of $((held + lost)))"
# the writes lost: acknowledged by P, not synced before its power-off;
# how long before P's last acknowledgement the first of them was
tail -n "$lost" "$work/before" > "$work/lost"
p_last=$(awk -v a="$PA" '$2 == a { t = $4 } END { print t }' "$work/acks")
lost_from=$(awk -v a="$PA" -v n="$(head -1 "$work/lost")" '$2 == a && $1 == n { print $4 }' "$work/acks")
lag=$(awk -v a="${lost_from:-$p_last}" -v b="$p_last" 'BEGIN { printf "%d", (b - a) * 1000 }')
tap_cond "$lag <= 2500" \
    "it lost only the writes of the sync lag: the last $lost, acknowledged in the last $lag ms before $P's power-off"
grep -F 'vcservice(db)' "$(node_log $S /var/log/pacemaker/pacemaker.log)" | tail -3 | sed 's/^/#  /'

# ------------------------------------------------------------ 4. the primary returns
wait_for 240 cs_online $P $S node2
tap_ok $? "4. $P came back and rejoined"
sleep 10 # what the scheduler does with it
tap_is "$(started_on db)" $S "db stays in the member on $S (stickiness: no automatic failback)"
tap_is "$(rcli "$PA" PING)" "" "$P runs no database"

# ------------------------------------------------------------ 5. failback
t1=$(now)
t_back=$(move_to $P "$PA")
tap_ok $? "5. failback, dbs moved to $P while the client writes: $P acknowledges them ($(since "$t1" "$t_back"))"
sleep 2
writer_stop
rcli "$PA" LRANGE acks 0 -1 > "$work/final"
awk '{ print $1 }' "$work/acks" | LC_ALL=C sort > "$work/all-acked"
n_member=$(acked $ADDR "$t0" | wc -l)
LC_ALL=C comm -23 "$work/all-acked" <(LC_ALL=C sort "$work/final" "$work/lost" | uniq) > "$work/missing"
tap_is "$(wc -l < "$work/missing")" 0 \
    "no acknowledged write lost but those of the power-off's sync lag: $P holds the member's $n_member since, and all before and after"
awk 'NR == FNR { m[$1] = 1; next } $1 in m { print "#  missing: " $0 }' "$work/missing" "$work/acks"
tap_is "$(sort -n "$work/final" | uniq | cmp - "$work/final" > /dev/null; echo $?)" 0 \
    "in the order they were made, each once ($(wc -l < "$work/final") in the list)"
t_pull=$(log_time "$t1" $P /var/log/pacemaker/pacemaker.log "failback: the tree of member db pulled back from $S")
tap_ok "$([ -n "$t_pull" ]; echo $?)" "$P pulled the member's files back before it started the database"
grep -F 'failback: the tree of member db' "$(node_log $P /var/log/pacemaker/pacemaker.log)" | tail -1 | sed 's/^/#  /'
wait_for 60 ex $S test ! -e $CS_SYNC/db/rootfs.vcha-active
tap_ok $? "$S's ctset released the member: its active marker is gone"
wait_for 60 member_runs
tap_ok $? "the member runs again, a warm standby"
tap_is "$(rcli $ADDR PING)" "" "with no database answering in it"
sum() { ex "$1" sh -c "cat $2/$AOF/*.incr.aof | sha256sum" 2> /dev/null | cut -c1-16; }
for ((i = 0; i < 120; i++)); do
    a=$(sum $P $TREE)
    [ -n "$a" ] && [ "$(aof_bytes $P $TREE)" -gt 0 ] && [ "$(sum $S $CS_SYNC/db/rootfs)" = "$a" ] && break
    sleep 1
done
tap_cond "$i < 120" "$P's pushes land in it again: its append-only file is $P's"

cs_active_watch_stop
tap_is "$(awk '$2 > 1' "$work/active" | wc -l)" 0 \
    "6. in $(wc -l < "$work/active") samples the database was never active on two nodes"
tap_cond "$(awk '$2 == 1' "$work/active" | wc -l) > 0" "(the watch saw it active)"
tap_diag "scenario time: $(since "$t_start" "$(now)")"
tap_done
