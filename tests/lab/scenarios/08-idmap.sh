#!/bin/bash
# Scenario 8: a standby tree as the root of an unprivileged container
# through an idmapped mount, never chowned.  On node1, a Debian 13 system
# (the lab's node image, ids as they are, plus a service's files owned by
# 104:109) is copied onto an ext4 file system of its own (a loop device) and
# becomes the root of an LXC container with a user namespace (lxc.idmap
# 0 -> 100000, 65536 ids) and lxc.rootfs.options = idmap=container.
#   - inside, ls -ln shows the tree's own ids (root's files 0:..., the
#     service's 104:109); an id beyond the map shows as the overflow id;
#   - what the container's root and the service create lands on disk with
#     the tree's ids (0:0, 104:109); what a sync writes on disk shows inside
#     at once, as it is;
#   - no file of the tree changed ids or ctime: nothing was chowned;
#   - the same container without idmap=container sees nobody's files;
#   - the same container on the node's overlayfs root does not start, and
#     LXC says why;
#   - the loop file system is made again over a stale one without leaking,
#     and dropped without a trace.
set -u
here=$(cd "$(dirname "$0")/.." && pwd)
. "$here/../lib/tap.sh"
. "$here/common.sh"
. "$here/sync-common.sh"

[ "$(id -u)" = 0 ] || tap_bail "the lab needs root"
N=node1
SYNC=/srv/vcha-sync     # the ext4 loop file system
TREE=$SYNC/vm1          # the standby tree: a container's root
OVL=/var/lib/vcha-idmap-ovl # a tree on the node's overlayfs root
CT=idmap1
work=$(mktemp -d)
t_start=$(now)
cleanup() { # what this scenario leaves on the node, gone
    local c
    for c in "$CT" "$CT-plain" "$CT-ovl" "$CT-ovl-plain"; do
        ex "$N" lxc-stop -n "$c" -k > /dev/null 2>&1
        ex "$N" rm -rf "/var/lib/lxc/$c" "/run/$c.log"
    done
    ex "$N" rm -rf "$OVL"
    loopfs_drop "$N" "$SYNC"
    loopfs_drop "$N" "$SYNC-2"
}
trap 'cleanup; rm -rf "$work"' EXIT

ct_start() { # ct_start NAME: started, its log in /run/NAME.log
    ex "$N" lxc-start -n "$1" -d -l INFO -o "/run/$1.log"
}
ct_stop() { ex "$N" lxc-stop -n "$1" -k > /dev/null 2>&1; }
in_ct() { local c=$1; shift; ex "$N" lxc-attach -n "$c" -- "$@"; }
# listing: path, ids and ctime of every file of the tree, from the node
listing() {
    ex "$N" find "$TREE" -xdev -printf '%p\t%U:%G\t%C@\n' |
        LC_ALL=C sort -t "$tab" -k1,1
}
tab=$'\t'
# compare FIELD: "path before after" for the tree's files (those of
# $work/before) whose FIELD (2: ids, 3: ctime) differs after
compare() {
    LC_ALL=C join -t "$tab" -o "0,1.$1,2.$1" "$work/before" "$work/after" |
        awk -F "$tab" '$2 != $3 { print $1, $2, $3 }'
}

lab up 3 > "$work/up.out" 2>&1 || { sed 's/^/#  /' "$work/up.out"; tap_bail "lab up failed"; }
cleanup # (a run stopped half-way)

# ------------------------------------------------------------ the parts
v=$(ex "$N" lxc-start --version)
tap_diag "LXC $v on $N, kernel $(uname -r)"
tap_cond "${v%%.*} >= 5" "the node's LXC knows lxc.rootfs.options = idmap=container (5.0 and later): $v"

loopfs_make "$N" "$SYNC" 6G
tap_ok $? "an ext4 file system on a loop device, mounted at $SYNC on $N"
img=$(loopfs_img "$N" "$SYNC")
tap_is "$(ex "$N" findmnt -n -o FSTYPE --mountpoint "$SYNC")" ext4 "$SYNC is ext4 on $N"
tap_cond "$(du -k "$img" | cut -f1) < 1024 * 1024" \
    "its image is sparse ($(du -h "$img" | cut -f1) of 6G, $img)"
! grep -q " $SYNC " /proc/self/mountinfo
tap_ok $? "the host does not see the mount"
tap_is "$(cat "/sys/block/$(basename "$(loopfs_loops "$img")")/loop/autoclear")" 1 \
    "its loop device goes with the mount (autoclear)"

t=$(now)
# but for the Azure SDK that fence-agents brings along: 50,000 files and
# 1.1 GB that would add only time
debian_tree "$N" "$TREE" --exclude=/usr/lib/python3/dist-packages/azure
tap_ok $? "a Debian 13 system copied to $TREE (rsync -aHAX --numeric-ids)"
files=$(ex "$N" find "$TREE" -xdev | wc -l)
tap_diag "$files files, $(ex "$N" du -sh "$TREE" | cut -f1), in $(awk -v a="$t" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }') s"
tap_like "$(ex "$N" cat "$TREE/etc/debian_version")" "13*" "it is Debian 13"
listing > "$work/before"

# ------------------------------------------------------------ idmapped
tree_ct "$N" "$CT" "$TREE" idmap
ct_start "$CT"
tap_ok $? "lxc-start: $CT with lxc.rootfs.options = idmap=container"
tap_is "$(ex "$N" lxc-info -n "$CT" -s -H)" RUNNING "it runs"
in_ct "$CT" grep -q ' / .*idmapped' /proc/self/mountinfo
tap_ok $? "its root is an idmapped mount"
pid=$(ex "$N" lxc-info -n "$CT" -p -H)
tap_is "$(ex "$N" stat -c %u "/proc/$pid")" "$CT_BASE" \
    "unprivileged: its init runs as uid $CT_BASE on the node"
tap_is "$(in_ct "$CT" id -u)" 0 "and as uid 0 inside"

# "uid:gid path" of each, inside and on disk
known=(/etc/shadow /etc/passwd /usr/bin/su /var/cache/bind "$TREE_SVC"
    "$TREE_SVC/data" "$TREE_SVC/log")
inside=$(in_ct "$CT" stat -c '%u:%g %n' "${known[@]}")
disk=$(ex "$N" stat -c '%u:%g %n' "${known[@]/#/$TREE}" | sed "s| $TREE/| /|")
tap_is "$inside" "$disk" "inside, each of ${#known[@]} known files has the ids it has on disk"
in_ct "$CT" ls -lnd "${known[@]}" | sed 's/^/#   ls -ln: /'
tap_like "$(grep ' /etc/shadow$' <<< "$inside")" "0:*" "/etc/shadow is root's (uid 0)"
tap_is "$(grep " $TREE_SVC/data\$" <<< "$inside")" "$SVC_UID:$SVC_GID $TREE_SVC/data" \
    "the service's file is $SVC_UID:$SVC_GID"
o=$(ex "$N" cat /proc/sys/kernel/overflowuid)
tap_is "$(in_ct "$CT" stat -c %u:%g "$TREE_ALIEN/file")" "$o:$o" \
    "an id beyond the map ($ALIEN_ID) shows as the overflow id $o"

in_ct "$CT" sh -c 'echo root > /root/made-inside && mkdir /root/dir-inside'
ex "$N" lxc-attach -n "$CT" -u "$SVC_UID" -g "$SVC_GID" -- \
    sh -c "echo service > $TREE_SVC/made-inside"
tap_is "$(ex "$N" stat -c %u:%g "$TREE/root/made-inside" "$TREE/root/dir-inside" | tr '\n' ' ')" \
    "0:0 0:0 " "what the container's root makes is 0:0 on disk"
tap_is "$(ex "$N" stat -c %u:%g "$TREE$TREE_SVC/made-inside")" "$SVC_UID:$SVC_GID" \
    "what the service makes is $SVC_UID:$SVC_GID on disk"
# a sync writes the VM's ids as they are; the running container sees them
ex "$N" sh -c "echo synced > $TREE$TREE_SVC/synced &&
    chown $SVC_UID:$SVC_GID $TREE$TREE_SVC/synced && echo synced > $TREE/etc/synced"
tap_is "$(in_ct "$CT" stat -c %u:%g "$TREE_SVC/synced" /etc/synced | tr '\n' ' ')" \
    "$SVC_UID:$SVC_GID 0:0 " "what a sync writes on disk shows inside at once, ids as they are"
tap_is "$(in_ct "$CT" cat "$TREE_SVC/synced")" synced "and reads"
ct_stop "$CT"
tap_is "$(ex "$N" lxc-info -n "$CT" -s -H)" STOPPED "stopped"

listing > "$work/after"
# the tree's files from before: the same ids, and the same ctime but for
# the directories where files were made
tap_is "$(wc -l < "$work/before")" "$files" "all $files files listed before"
compare 2 > "$work/ids"
tap_is "$(wc -l < "$work/ids")" 0 "no file of the tree changed ids"
head -5 "$work/ids" | sed 's/^/#   /'
changed=$(compare 3 | cut -d' ' -f1 | tr '\n' ' ')
tap_is "$changed" "$TREE/etc $TREE/root $TREE$TREE_SVC " \
    "no ctime changed but those of the directories written to: nothing chowned"

# ------------------------------------------------------------ without idmap
tree_ct "$N" "$CT-plain" "$TREE" userns
ct_start "$CT-plain"
tap_ok $? "the same container without idmap=container starts"
tap_is "$(in_ct "$CT-plain" stat -c %u:%g /etc/shadow)" "$o:$o" \
    "but sees the tree's files as the overflow id's"
ct_stop "$CT-plain"

# ------------------------------------------------------------ overlayfs
# a busybox root, that starts as an unprivileged container without idmap
ex "$N" sh -c "mkdir -p $OVL/bin $OVL/proc $OVL/sys $OVL/dev $OVL/tmp &&
    cp /bin/busybox $OVL/bin/busybox"
tap_is "$(ex "$N" findmnt -n -o FSTYPE --target "$OVL")" overlay "$OVL is on overlayfs"
tree_ct "$N" "$CT-ovl-plain" "$OVL" userns "/bin/busybox sleep 100000"
ct_start "$CT-ovl-plain"
tap_ok $? "a container of it without idmap=container starts"
ct_stop "$CT-ovl-plain"
tree_ct "$N" "$CT-ovl" "$OVL" idmap "/bin/busybox sleep 100000"
out=$(ct_start "$CT-ovl" 2>&1)
tap_cond "$? != 0" "on overlayfs the idmapped container does not start"
tap_is "$(ex "$N" lxc-info -n "$CT-ovl" -s -H 2> /dev/null)" STOPPED "it stays stopped"
why=$(ex "$N" grep ERROR "/run/$CT-ovl.log" | sed 's/^.* ERROR *//' | head -3)
tap_like "$why" "*Invalid argument - Failed to change mount attributes*Failed to create detached idmapped mount*" \
    "LXC says so: mount_setattr refuses the idmap (EINVAL)"
sed 's/^/#   /' <<< "$why"
tap_like "$out" "*failed to start*" "and lxc-start fails"

# ------------------------------------------------------------ the loop fs
loopfs_make "$N" "$SYNC-2" 64M && ex "$N" touch "$SYNC-2/stale"
loopfs_make "$N" "$SYNC-2" 64M
tap_ok $? "a loop file system made again over one left behind"
tap_is "$(ex "$N" findmnt -n --mountpoint "$SYNC-2" | wc -l)" 1 "mounted once"
tap_is "$(loopfs_loops "$(loopfs_img "$N" "$SYNC-2")" | wc -l)" 1 "on one loop device"
! ex "$N" test -e "$SYNC-2/stale"
tap_ok $? "a new file system (the old one's file is not there)"
loopfs_drop "$N" "$SYNC"
loopfs_drop "$N" "$SYNC-2"
tap_is "$(ex "$N" findmnt -n --mountpoint "$SYNC" | wc -l)" 0 "dropped: unmounted"
tap_is "$(losetup -l -n -O BACK-FILE | grep -c "$LOOPFS/")" 0 "no loop device left"
tap_is "$(ls -A "$LOOPFS")" "" "no image left"

tap_diag "runtime $(awk -v a="$t_start" -v b="$(now)" 'BEGIN { printf "%.0f", b - a }') s"
tap_done
