#!/bin/bash
# Scenario 7: a promotable clone with notifications on two nodes (node1 and
# node2 of the usual three; node3 is kept out).  The agent
# is ocf:vchatest:statetest (tests/promotable/statetest.c), made of the
# runtime's clone support and nothing else; it records every call and
# every notification under /run/statetest on its node.  Checked: one
# instance promoted by its promotion score, a monitor interval per role,
# the pre and post notifications of a promote and of a demote with their
# lists, and a failed promoted instance (OCF_FAILED_PROMOTED) shown as such
# and recovered.
set -u
here=$(cd "$(dirname "$0")/.." && pwd)
. "$here/../lib/tap.sh"
. "$here/common.sh"

[ "$(id -u)" = 0 ] || tap_bail "the lab needs root"
D=/run/statetest
work=$(mktemp -d)
t_start=$(now)
trap 'ex node1 pcs resource delete st-clone > /dev/null 2>&1 ||
    ex node1 pcs resource delete st-clone --force > /dev/null 2>&1; rm -rf "$work"' EXIT

role_of() { ex "$1" cat "$D/role" 2> /dev/null; }
other() { [ "$1" = node1 ] && echo node2 || echo node1; }
idle() { ex node1 crm_resource --wait --timeout=60s > /dev/null 2>&1; }
# settled PROMOTED: PROMOTED's instance is promoted, the other's unpromoted,
# and crm_mon says so
settled() {
    local p=$1 u out
    u=$(other "$p")
    [ "$(role_of "$p")" = Promoted ] && [ "$(role_of "$u")" = Unpromoted ] || return 1
    out=$(ex node1 crm_mon -1 2> /dev/null) || return 1
    grep -q "Promoted: \[ $p \]" <<< "$out" && grep -q "Unpromoted: \[ $u \]" <<< "$out"
}
promoted_node() {
    local n
    for n in node1 node2; do
        [ "$(role_of "$n")" = Promoted ] && echo "$n"
    done
}
# records NODE FILE MARK: the lines of $D/FILE on NODE written at or after MARK
records() { ex "$1" awk -v m="$3" '$1 >= m' "$D/$2" 2> /dev/null; }
# notification NODE MARK TYPE OP: its first line of that kind since MARK
notification() {
    records "$1" notify "$2" | awk -v t="type=$3" -v o="op=$4" \
        '$3 == t && $4 == o { print; exit }'
}
field() { sed -n "s/.* $2=\([^ ]*\).*/\1/p" <<< "$1"; }
# words of a list field, sorted, space-separated ("" for "-")
list() { field "$1" "$2" | tr ',' '\n' | grep -v '^-$' | sort | tr '\n' ' ' | sed 's/ $//'; }
# gaps NODE MARK END INTERVAL: seconds between its recurring monitors with
# that interval (ms) in [MARK, END)
gaps() {
    records "$1" calls "$2" | awk -v e="$3" -v i="interval=$4" \
        '$1 < e && $3 == "monitor" && $4 == i {
            if (last) printf "%.1f ", $1 - last; last = $1 }'
}
# all_within "GAPS" LO HI: at least 2 gaps, each within [LO, HI]
all_within() {
    awk -v lo="$2" -v hi="$3" '{ for (i = 1; i <= NF; i++) if ($i < lo || $i > hi) exit 1
        exit NF < 2 }' <<< "$1"
}

lab up 3 > "$work/up.out" 2>&1 || { sed 's/^/#  /' "$work/up.out"; tap_bail "lab up failed"; }
ex node1 pcs resource delete st-clone > /dev/null 2>&1
for n in node1 node2 node3; do ex "$n" rm -rf "$D"; done

# --- a promotable clone of two instances, notify=true, a monitor per role
mark=$(date +%s.%N)
ex node1 cibadmin -C -o resources -X '
<clone id="st-clone">
  <meta_attributes id="st-clone-meta">
    <nvpair id="st-clone-promotable" name="promotable" value="true"/>
    <nvpair id="st-clone-clone-max" name="clone-max" value="2"/>
    <nvpair id="st-clone-clone-node-max" name="clone-node-max" value="1"/>
    <nvpair id="st-clone-promoted-max" name="promoted-max" value="1"/>
    <nvpair id="st-clone-notify" name="notify" value="true"/>
  </meta_attributes>
  <primitive id="st" class="ocf" provider="vchatest" type="statetest">
    <operations>
      <op id="st-monitor-promoted" name="monitor" interval="5s" role="Promoted" timeout="20s"/>
      <op id="st-monitor-unpromoted" name="monitor" interval="7s" role="Unpromoted" timeout="20s"/>
    </operations>
  </primitive>
</clone>'
rc=$?
ex node1 cibadmin -C -o constraints -X \
    '<rsc_location id="st-not-on-node3" rsc="st-clone" node="node3" score="-INFINITY"/>'
tap_ok $((rc + $?)) "a promotable clone st-clone (clone-max=2, promoted-max=1, notify=true) is created, on node1 and node2"
for _ in $(seq 1 60); do
    p1=$(promoted_node)
    [ -n "$p1" ] && settled "$p1" && break
    sleep 1
done
u1=$(other "${p1:-node1}")
settled "${p1:-none}"
tap_ok $? "one instance is promoted (${p1:-none}), the other unpromoted ($u1); crm_mon agrees"
idle

clone=$(ex "$u1" cat "$D/clone" 2> /dev/null)
tap_like "$clone" "instance=[01] clone_max=2 clone_node_max=1 promoted_max=1 promoted_node_max=1 notify=1 globally_unique=0" \
    "start reads the clone meta attributes ($clone)"
scores=$(ex node1 crm_mon -1 -A --output-as=xml 2> /dev/null |
    sed -n 's/.*<attribute name="\(master-[^"]*\)" value="\([^"]*\)".*/\1=\2/p' | tr '\n' ' ')
tap_like "$scores" "master-st*=*" "promotion scores are node attributes ($scores)"
score() { # score NODE: its promotion score for st, or nothing
    ex node1 crm_attribute -N "$1" -l reboot -n master-st -G -q 2> /dev/null
}
tap_is "$(score "$p1")/$(score "$u1")" "10/5" "promotion scores: 10 promoted, 5 unpromoted"

n=$(notification "$p1" "$mark" pre promote)
tap_is "$(list "$n" promote_uname)" "$p1" "pre-promote notification on $p1: promote_uname=$p1"
n=$(notification "$u1" "$mark" post promote)
tap_is "$(list "$n" promote_uname)/$(list "$n" demote_uname)/$(list "$n" all_uname)" \
    "$p1//node1 node2 node3" "post-promote notification on $u1: promote_uname=$p1, demote_uname empty, all_uname every node"

# --- a monitor interval per role, from the recorded calls
w0=$(date +%s.%N)
sleep 23
w1=$(date +%s.%N)
g=$(gaps "$p1" "$w0" "$w1" 5000)
all_within "$g" 4.5 5.6
tap_ok $? "promoted monitor on $p1 every 5 s (gaps: $g)"
g=$(gaps "$u1" "$w0" "$w1" 7000)
all_within "$g" 6.5 7.6
tap_ok $? "unpromoted monitor on $u1 every 7 s (gaps: $g)"
roles=$( (records "$p1" calls "$w0"; records "$u1" calls "$w0") | awk -v e="$w1" \
    '$1 < e && $3 == "monitor" { print $2, $4, $5, $6 }' | sort -u | tr '\n' ';')
tap_is "$roles" "$(printf '%s\n' "$p1 interval=5000 role=Promoted rc=8" \
    "$u1 interval=7000 role=Unpromoted rc=0" | sort | tr '\n' ';')" \
    "each monitor is asked for its role and answers it (8 promoted, 0 unpromoted)"

# --- the promoted role moves: demote on one node, promote on the other
mark=$(date +%s.%N)
ex node1 cibadmin -C -o constraints -X \
    "<rsc_location id=\"st-promoted-on-$u1\" rsc=\"st-clone\" role=\"Promoted\" node=\"$u1\" score=\"100\"/>"
wait_for 60 settled "$u1"
tap_ok $? "a location preference for the promoted role moves it to $u1"
idle
p2=$u1 u2=$p1
# The demote's notifications describe the cluster before the demote; the
# promote's, the cluster after it: both instances unpromoted, nothing left
# to demote.
for n in "$p2" "$u2"; do
    for t in pre post; do
        l=$(notification "$n" "$mark" "$t" demote)
        got="$(list "$l" demote_uname)/$(list "$l" promote_uname)/$(list "$l" promoted_uname)/$(list "$l" unpromoted_uname)/$(list "$l" active_uname)"
        tap_is "$got" "$u2/$p2/$u2/$p2/node1 node2" \
            "$t-demote notification on $n: demote $u2, promote $p2, promoted $u2, unpromoted $p2, active both"
        l=$(notification "$n" "$mark" "$t" promote)
        got="$(list "$l" demote_uname)/$(list "$l" promote_uname)/$(list "$l" promoted_uname)/$(list "$l" unpromoted_uname)/$(list "$l" active_uname)"
        tap_is "$got" "/$p2//node1 node2/node1 node2" \
            "$t-promote notification on $n: promote $p2, none promoted, both unpromoted, active both"
    done
done
order=$(records "$p2" notify "$mark" | awk '{ print $3 "-" $4 }' | sed 's/type=//; s/op=//' | tr '\n' ' ')
tap_is "$order" "pre-demote post-demote pre-promote post-promote " "notifications in order on $p2"
n=$(notification "$u2" "$mark" pre demote)
tap_like "$(list "$n" demote_resource)" "st*" "demote_resource names the instance ($(list "$n" demote_resource))"
env=$(ex "$u2" cat "$D/notify-env")
names=$(sed -n 's/^  OCF_RESKEY_CRM_meta_\(notify_[a-z_]*\)=.*/\1/p' <<< "$env" | sort -u | tr '\n' ' ')
tap_diag "notify variables Pacemaker set: $names"
new=$(grep -c "^  OCF_RESKEY_CRM_meta_notify_promoted_uname=" <<< "$env")
old=$(grep -c "^  OCF_RESKEY_CRM_meta_notify_master_uname=" <<< "$env")
tap_diag "promoted_uname set $new times, master_uname $old times"
tap_cond "$new > 0" "Pacemaker sets notify_promoted_uname (read as the promoted list)"
tap_is "$(score "$p2")/$(score "$u2")" "10/5" "scores follow: 10 on $p2, 5 on $u2"

# --- the promoted instance fails its monitor: OCF_FAILED_PROMOTED
mark=$(date +%s.%N)
ex "$p2" touch "$D/fail-promoted"
failed_call() { records "$p2" calls "$mark" | grep -q " monitor interval=5000 role=Promoted rc=9$"; }
wait_for 15 failed_call
tap_ok $? "the promoted monitor on $p2 returns OCF_FAILED_PROMOTED (9)"
failure() {
    ex node1 crm_mon -1 --output-as=xml 2> /dev/null | grep "<failure " |
        grep "op_key=\"st[^\"]*_monitor_5000\"" | grep "node=\"$p2\"" | grep 'exitcode="9"'
}
wait_for 15 failure
tap_ok $? "crm_mon reports the failure of the promoted monitor on $p2 (exit code 9)"
f=$(failure | head -1)
tap_diag "crm_mon: $(sed 's/^[[:space:]]*//' <<< "$f")"
tap_like "$f" "*exitreason=\"told to fail*" "with the agent's exit reason"
line=$(ex node1 crm_mon -1 2> /dev/null | grep "monitor on $p2" | grep -i "promoted")
tap_ok "$([ -n "$line" ]; echo $?)" "crm_mon's text names the failure in the promoted role"
tap_diag "crm_mon: $(sed 's/^[[:space:]]*//' <<< "$line")"
recovered() {
    records "$p2" calls "$mark" | awk '{ print $3 }' | tr '\n' ' ' |
        grep -q "monitor .*demote .*stop .*start .*promote" && settled "$p2"
}
wait_for 60 recovered
tap_ok $? "$p2 is demoted, stopped, started and promoted again"
tap_diag "calls on $p2: $(records "$p2" calls "$mark" | awk '{ print $3 "/" $NF }' | tr '\n' ' ')"
l=$(notification "$u2" "$mark" pre demote)
tap_is "$(list "$l" demote_uname)" "$p2" "the recovery's pre-demote notification reaches $u2: demote_uname=$p2"
idle

# --- deleted: both instances stop, their scores go
ex node1 pcs resource delete st-clone > /dev/null 2>&1
stopped() { [ -z "$(role_of node1)$(role_of node2)" ]; }
wait_for 60 stopped
tap_ok $? "deleting the clone stops both instances"
tap_is "$(score node1)$(score node2)" "" "and removes their promotion scores"
tap_diag "runtime $(awk -v a="$t_start" -v b="$(now)" 'BEGIN { printf "%.0f", b - a }') s"
tap_done
