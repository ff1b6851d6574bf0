#!/bin/bash
# Scenario 18: an in-VM container set (seed 000) at a real size - the
# service's tree is a Debian root (trixie, debootstrap minbase, built once
# by tests/lab/ct-root: its own shell, users and dpkg database) with the
# service added and 20,000 pages, some 25,000 files in all.  The service
# "web" of scenario 12 (tests/lab/ctset-common.sh): natively on node1, its
# tree synced into hot member "web" on the standby VM node3.
#   1. the first sync brings the whole tree over: the member's tree has
#      every entry of the primary's but what the package-based exclusion
#      list leaves out (vchactl excludes), the same Debian release and the same
#      dpkg database, and the hot member, booted from it, serves its pages;
#   2. node1 powered off while a writer on it counts into the tree every
#      0.2 s: fenced, the member activated, the name switched, the client
#      served the newest count node1 wrote (within the sync lag, 2 s of
#      writes, as scenario 12 on its small tree), and any page of the
#      20,000;
#   3. all along, web was active on one node at most.
set -u
here=$(cd "$(dirname "$0")/.." && pwd)
. "$here/../lib/tap.sh"
. "$here/common.sh"
CS_BASE=/srv/shared/ct-root
CS_PAGES=20000
. "$here/ctset-common.sh"

[ "$(id -u)" = 0 ] || tap_bail "the lab needs root"
P=$CS_P
S=$CS_S
work=$(mktemp -d)
t_start=$(now)
trap 'cs_watch_stop; cs_cleanup; rm -rf "$SHARED/ct-root" "$work"' EXIT
root=$("$here/ct-root" 2> "$work/root.out") ||
    { sed 's/^/#  /' "$work/root.out"; tap_bail "the Debian root was not built"; }
lab up 3 > "$work/up" 2>&1 || { sed 's/^/#  /' "$work/up"; tap_bail "lab up failed"; }
rm -rf "$SHARED/ct-root" && cp -a "$root" "$SHARED/ct-root" ||
    tap_bail "cannot copy the Debian root into the lab's shared directory"
t_cfg=$(now)
cs_begin

# ------------------------------------------------------------ 1. the first sync
cs_ready 300
tap_ok $? "the set got ready: the first batch completed, the hot member answers ($(since "$t_cfg" "$(now)") after the configuration)"
ex "$P" sh -c "cd $CS_TREE && find . | cut -c2- | LC_ALL=C sort" > "$work/p.list"
ex "$S" sh -c "cd $CS_SYNC/web/rootfs && find . | cut -c2- | LC_ALL=C sort" > "$work/s.list"
ex "$P" vchactl excludes "$CS_TREE" | sed -n 's|^- ||p' > "$work/excludes"
n_p=$(wc -l < "$work/p.list")
tap_cond "$n_p >= 25000" "the primary's tree holds a Debian root and the pages: $n_p entries"
LC_ALL=C comm -23 "$work/p.list" "$work/s.list" > "$work/missing"
# explained: the entry or one of its directories is what a line of the
# exclusion list names (rsync's /DIR/*** : DIR and all in it)
unexplained=$(while read -r path; do
    hit=
    while read -r pat; do
        pat=${pat%/\*\*\*}
        q=$path
        while [ -n "$q" ]; do
            # shellcheck disable=SC2053 # the pattern is a glob
            [[ $q == $pat ]] && { hit=1; break; }
            q=${q%/*}
        done
        [ -n "$hit" ] && break
    done < "$work/excludes"
    [ -n "$hit" ] || echo "$path"
done < "$work/missing")
tap_is "$(wc -l < "$work/s.list") ${unexplained:-none}" "$((n_p - $(wc -l < "$work/missing"))) none" \
    "the member's tree on $S has every entry but the $(wc -l < "$work/missing") the exclusion list leaves out ($(tr '\n' ' ' < "$work/missing"))"
# (this root: /boot, /etc/fstab, /etc/hostname, /run's contents)
tap_cond "$(wc -l < "$work/missing") <= 8" "and the list leaves out a handful, not the tree"
tap_is "$(ex "$S" cat "$CS_SYNC/web/rootfs/etc/debian_version" 2> /dev/null)" \
    "$(ex "$P" cat "$CS_TREE/etc/debian_version")" "the same Debian release"
tap_is "$(ex "$S" sha256sum "$CS_SYNC/web/rootfs/var/lib/dpkg/status" 2> /dev/null | cut -c1-64)" \
    "$(ex "$P" sha256sum "$CS_TREE/var/lib/dpkg/status" | cut -c1-64)" \
    "and the same dpkg database ($(ex "$P" grep -c '^Package:' "$CS_TREE/var/lib/dpkg/status") packages)"
tap_is "$(client curl -s --max-time 2 "http://$CS_ADDR/p/12345.html")" "page 12345" \
    "the hot member serves the pages from its tree"

# ------------------------------------------------------------ 3. the watcher
cs_watch "$work/watch"

# ------------------------------------------------------------ 2. failover
cs_fail_primary
read -r t_fence t_web t_dns t_client <<< "$CS_TIMES"
tap_is "$(client curl -s --max-time 2 "http://$(cs_named)/p/20000.html")" \
    "page 20000" "the client is served any page of the 20,000, at the address the name gives"
tap_diag "timeline: power-off 0, fenced $(since "$CS_T0" "${t_fence/\?/}"), web active in the container $(since "$CS_T0" "${t_web/\?/}"), DNS $(since "$CS_T0" "${t_dns/\?/}"), client $(since "$CS_T0" "${t_client:-}")"
grep -F 'vcservice(web)' "$(node_log "$S" /var/log/pacemaker/pacemaker.log)" |
    tail -4 | sed 's/^/#  /'
wait_for 120 sh -c "'$LAB' exec $S crm_mon -1 | grep -q 'Online: \[ node1 node2 node3 \]'"
tap_ok $? "$P came back and rejoined"

cs_watch_stop
tap_is "$(awk '$2 > 1' "$work/watch" | wc -l)" 0 \
    "in $(wc -l < "$work/watch") samples web was never active on two nodes"
tap_diag "scenario time: $(since "$t_start" "$(now)")"
tap_done
