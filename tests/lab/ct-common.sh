# Shared by the criuct scenario and benchmark (bash; source it after
# common.sh): container ct1 run by ocf:vcha:criuct, its store on the lab's
# shared directory, and ways to look at its state from outside.  Sticky: a
# stateful container should not move back and forth by itself.

# fault_install NODE: tests/lab/fault-rsync stands in for rsync on NODE
# (again after a reboot); fault_remove NODE puts rsync back
FAULT=/run/vcha-fault
fault_install() {
    ex "$1" sh -c "grep -q ' /usr/bin/rsync ' /proc/self/mountinfo || {
        cp /usr/bin/rsync /usr/lib/vcha-lab/rsync.real &&
        mount --bind /usr/lib/vcha-lab/fault-rsync /usr/bin/rsync; }"
}
fault_remove() {
    ex "$1" sh -c "rm -rf $FAULT; while grep -q ' /usr/bin/rsync ' /proc/self/mountinfo; do
        umount /usr/bin/rsync || break; done"
}

# freezer_state NODE: what the freezer of the container says
freezer_state() {
    ex "$1" sh -c "p=\$(lxc-info -n $CT -p -H) &&
        d=\$(sed -n 's/^[0-9]*:freezer://p' /proc/\$p/cgroup) &&
        cat /sys/fs/cgroup/freezer\${d%/init.scope}/freezer.state"
}

# ct_use NAME: the container the functions below are about
ct_use() {
    CT=$1
    STORE=/srv/shared/ckpt/$CT                  # as the nodes see it
    HOST_STORE=$SHARED/ckpt/$CT                 # the same, from the host
    CT_LOG=/var/lib/lxc/$CT/rootfs/var/log/counter
}
ct_use ct1

# ct_configure INTERVAL [MIB [NAME=VALUE...]]: the container on every node
# (made by mkct with the flags in MKCT_FLAGS), an empty store, the resource
# (allow-migrate, migration-threshold 2, keep CT_KEEP or 3) with any further
# parameters given
ct_configure() {
    local n interval=$1 mib=${2:-16}
    shift $(($# < 2 ? $# : 2))
    ex node1 pcs resource delete "$CT" > /dev/null 2>&1
    for n in node1 node2 node3; do
        # shellcheck disable=SC2086
        ex "$n" /usr/lib/vcha-lab/mkct "$CT" "$mib" ${MKCT_FLAGS:-} || return 1
    done
    rm -rf "$HOST_STORE" && mkdir -p "$HOST_STORE"
    ex node1 pcs resource create "$CT" ocf:vcha:criuct container="$CT" \
        checkpoint_dir="$STORE" checkpoint_interval="$interval" \
        keep="${CT_KEEP:-3}" "$@" \
        meta migration-threshold=2 allow-migrate=true resource-stickiness=100 \
        op monitor interval=3s timeout=30s > /dev/null
}

# ct_where: the node where ct1 has started, or nothing.  crm_mon, not
# crm_resource --locate: that names the node as soon as a start is under
# way, before the restore has put the generation's files in place.
ct_where() { started_on "$CT"; }

# ct_wait_on SECONDS [NOT-NODE]: until ct1 runs (elsewhere than NOT-NODE)
ct_wait_on() {
    local i n
    for ((i = 0; i < $1 * 2; i++)); do
        n=$(ct_where)
        if [ -n "$n" ] && [ "$n" != "${2:-}" ]; then
            echo "$n"
            return 0
        fi
        sleep 0.5
    done
    return 1
}

# ct_ask NODE: what the workload's TCP service says, from inside the
# container's network namespace ("count=N hits=H pid=P")
ct_ask() {
    ex "$1" bash -c "pid=\$(lxc-info -n $CT -p -H) && nsenter -t \$pid -n \
        bash -c 'exec 3<>/dev/tcp/127.0.0.1/7000 && cat <&3'" 2> /dev/null
}

field() { sed -n "s/.*$1=\([0-9]*\).*/\1/p" <<< "$2"; }

# ct_log_check NODE: the container's log on NODE reads 1, 2, 3, ... with no
# gap and no repeat (memory and files from one instant); prints its length
ct_log_check() {
    ex "$1" awk '$1 != NR { print "line " NR " is " $1; bad = 1; exit }
        END { if (!bad) print NR; exit bad }' "$CT_LOG"
}

gens() { # the store's committed generations, oldest first
    ls "$HOST_STORE" 2> /dev/null | grep '^gen-' | sort
}

# frozen_after MS: a committed generation was frozen after MS (epoch ms);
# to know that a checkpoint holds what a question changed in memory, take
# MS once its answer is in: the container may be frozen between the
# question and its answer
frozen_after() {
    local g f
    for g in $(gens); do
        f=$(sed -n 's/^figure frozen_at //p' "$HOST_STORE/$g/MANIFEST" 2> /dev/null)
        [ "${f:-0}" -gt "$1" ] && return 0
    done
    return 1
}

gen_count() { # gen_count GEN: the counter the generation's files hold
    tail -1 "$HOST_STORE/$1/rootfs/var/log/counter" 2> /dev/null
}

# restored_from NODE: the generation criuct restored last on NODE
restored_from() {
    local line
    line=$(ex "$1" grep "criuct.*restoring $CT from" \
        /var/log/pacemaker/pacemaker.log 2> /dev/null | tail -1)
    sed -n 's/.*from .*\/\(gen-[0-9]*\).*/\1/p' <<< "$line"
}

# ct_phases T0 VICTIM NEW T-ANSWER: a failover of the container, phase by
# phase, each from the log of the node that saw it (on the host, kept across
# the power-off): "off +0.000 | member +2.1 | fenced +2.4 | start on node3
# +2.5 | verified +2.6 | files +2.8 | criu +3.1 | started +3.2 | answers
# +3.3"; a phase
# found in no log is "?".  The survivors' first sighting counts for the
# membership and the fencing.
ct_phases() {
    local t0=$1 v=$2 n=$3 ta=$4 s t member="" fenced="" log=/var/log/pacemaker/pacemaker.log
    for s in node1 node2 node3; do
        [ "$s" = "$v" ] && continue
        t=$(log_time "$t0" "$s" /var/log/corosync/corosync.log "A new membership .* Members left: ${v#node}\$")
        [ -n "$t" ] && member=$(printf '%s\n%s\n' "$member" "$t" | grep . | sort -n | head -1)
        t=$(log_time "$t0" "$s" "$log" "finalize_op.*targeting $v .*OK")
        [ -n "$t" ] && fenced=$(printf '%s\n%s\n' "$fenced" "$t" | grep . | sort -n | head -1)
    done
    printf 'off %s | member %s | fenced %s | start on %s %s | verified %s | files %s | criu %s | started %s | answers %s\n' \
        "$(since "$t0" "$t0")" "$(since "$t0" "$member")" "$(since "$t0" "$fenced")" "$n" \
        "$(since "$t0" "$(log_time "$t0" "$n" "$log" "executing - rsc:$CT action:start")")" \
        "$(since "$t0" "$(log_time "$t0" "$n" "$log" "criuct\($CT\).*restoring $CT from")")" \
        "$(since "$t0" "$(log_time "$t0" "$n" "$log" ": $CT: files of .* in place; CRIU restores")")" \
        "$(since "$t0" "$(log_time "$t0" "$n" "$log" ": $CT: CRIU restored it; thawing")")" \
        "$(since "$t0" "$(log_time "$t0" "$n" "$log" "Result of start operation for $CT on $n: OK")")" \
        "$(since "$t0" "$ta")"
}
