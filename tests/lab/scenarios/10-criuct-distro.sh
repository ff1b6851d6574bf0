#!/bin/bash
# Scenario 10: ocf:vcha:criuct with a container whose root filesystem is a
# real Debian root (trixie, debootstrap minbase, built once by
# tests/lab/ct-root), its init ctload (a counter logged to
# /var/log/counter many times a second, and a TCP service holding its
# state in memory only), checkpointed every 2 s; the node running it is
# powered off and it comes back elsewhere with its memory and files of one
# instant, as scenario 5 checks for a busybox root.
#   1. the LXC configuration with the settings CRIU needs (tests/lab/mkct);
#   2. the configuration lxc-create -t download writes for Debian (common
#      .conf's ttys, ptys and console, AppArmor lines): criuct sets what
#      CRIU needs in memory (liblxc), the file on every node unchanged.
set -u
here=$(cd "$(dirname "$0")/.." && pwd)
. "$here/../lib/tap.sh"
. "$here/common.sh"
. "$here/ct-common.sh"

[ "$(id -u)" = 0 ] || tap_bail "the lab needs root"
work=$(mktemp -d)
declare -A sums
new=
ct_use ct10
trap 'ex node1 pcs resource delete $CT > /dev/null 2>&1
    rm -rf "$SHARED/ct-root" "$work"' EXIT

root=$("$here/ct-root" 2> "$work/root.out") ||
    { sed 's/^/#  /' "$work/root.out"; tap_bail "cannot build the Debian root"; }
lab up 3 > "$work/up.out" 2>&1 || { sed 's/^/#  /' "$work/up.out"; tap_bail "lab up failed"; }
rm -rf "$SHARED/ct-root" && cp -a "$root" "$SHARED/ct-root" ||
    tap_bail "cannot put the Debian root on the shared directory"
files=$(find "$root" -type f | wc -l)

# restored_since T0 NODE: the generation criuct on NODE restored at or
# after T0 (epoch s), or nothing
restored_since() {
    local mo d hms rest
    grep "criuct($CT).*restoring $CT from" \
        "$(node_log "$2" /var/log/pacemaker/pacemaker.log)" 2> /dev/null |
        while read -r mo d hms rest; do
            awk -v a="$(date -d "$mo $d $hms" +%s.%N)" -v b="$1" \
                'BEGIN { exit !(a >= b - 0.001) }' &&
                sed -n 's/.*from .*\/\(gen-[0-9]*\).*/\1/p' <<< "$rest"
        done | tail -1
}

# distro WAIT TODO MKCT-FLAGS...: the container from the Debian root, then
# the power-off of its node; checkpoints are waited for WAIT seconds; every
# check's description ends with TODO (empty, or " # TODO why")
distro() {
    local wait=$1 todo=$2 home victim last at cut before after n tq m
    shift 2
    MKCT_FLAGS="tree=/srv/shared/ct-root $*" ct_configure 2s 16 ||
        tap_bail "cannot set up $CT ($*)"
    for m in node1 node2 node3; do # each node's file, as configured
        sums[$m]=$(ex "$m" sha256sum "/var/lib/lxc/$CT/config")
    done
    home=$(ct_wait_on 120)
    tap_like "$home" "node*" "criuct starts $CT, a Debian root of $files files (on ${home:-no node})$todo"
    [ -n "$home" ] || return 0
    ex "$home" test -s "/var/lib/lxc/$CT/rootfs/etc/debian_version"
    tap_ok $? "its root is Debian's ($(ex "$home" cat "/var/lib/lxc/$CT/rootfs/etc/debian_version" 2> /dev/null))$todo"
    # the power-off follows a checkpoint frozen after the question (the
    # first one copies every file: seconds on a busy machine)
    before=$(ct_ask "$home")
    tq=$(date +%s%3N)
    wait_for "$wait" frozen_after "$tq"
    tap_ok $? "a checkpoint after a question to its TCP service ($(gens | tr '\n' ' '))$todo"
    n=$(ls "$HOST_STORE/$(gens | tail -1)/rootfs/usr/bin" 2> /dev/null | wc -l)
    tap_cond "$n > 50" "the newest holds its /usr/bin ($n files)$todo"
    victim=$home
    t0=$(now)
    lab poweroff "$victim" 2> /dev/null
    last=$(gens | tail -1)
    cut=$(tail -1 "/var/lib/vcha-lab/$victim/upper$CT_LOG" 2> /dev/null)
    new=$(ct_wait_on 120 "$victim")
    tap_like "$new" "node*" "after the power-off of $victim it runs on ${new:-no node}$todo"
    [ -n "$new" ] || return 0
    t1=$(now)
    tap_is "$(restored_since "$t0" "$new")" "${last:-none}" "restored from the newest committed generation (${last:-none})$todo"
    at=$(gen_count "$last")
    after=$(ct_ask "$new")
    tap_cond "${at:-0} > 0 && $(field count "$after") >= ${at:-0} && ${at:-0} <= ${cut:-0}" \
        "its counter goes on from the generation's ${at:-?} (<= ${cut:-?} at the power-off): $after$todo"
    tap_is "$(field hits "$after")" "$(($(field hits "$before") + 1))" \
        "the TCP service kept its in-memory state (hits)$todo"
    n=$(ct_log_check "$new")
    tap_ok $? "memory and files agree after the restore (log 1..$n)$todo"
    tap_diag "failover: $(since "$t0" "$t1")" "phases: $(ct_phases "$t0" "$victim" "$new" "$t1")"
    wait_for 120 sh -c "'$LAB' exec $new crm_mon -1 | grep -q 'Online: \[ node1 node2 node3 \]'"
}

# ------------------------------------------------------------ 1. CRIU's settings
distro 60 ""

# ------------------------------------------------------------ 2. as lxc-create writes it
# (ct_configure writes each node's file before the resource starts)
distro 20 "" lxcconf=download
ex "$new" grep -q "^lxc.include = .*common.conf" "/var/lib/lxc/$CT/config"
tap_ok $? "its configuration includes LXC's common.conf (ttys, ptys, a console), as lxc-create writes it"
ex "$new" lxc-attach -n "$CT" -- test -e /dev/tty1
tap_is "$?" 1 "yet the restored container has no /dev/tty1: the settings CRIU needs were set in memory"
tap_is "$(ex "$new" sha256sum "/var/lib/lxc/$CT/config")" "${sums[$new]:-none}" \
    "and the configuration file of $new was not written"
tap_done
