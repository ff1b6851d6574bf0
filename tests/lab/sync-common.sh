# Shared by the scenarios and benchmarks about filesync's standby trees
# (bash; source it after common.sh).  A standby tree keeps the VM's own
# numeric ids and becomes the root of an unprivileged container through an
# idmapped mount, which the nodes' overlayfs roots cannot carry: such a tree
# lives on an ext4 file system of its own, on a loop device.
#
#   loopfs_make NODE PATH SIZE   an ext4 file system of SIZE (truncate's
#                                units; a sparse image) mounted at PATH in
#                                NODE only.  One left by an earlier run at
#                                the same place is dropped first.
#   loopfs_drop NODE PATH        unmount it in NODE, free its loop device,
#                                remove its image (nothing there: no error)
#   loopfs_img NODE PATH         the host's path of its image
#   node_path NODE PATH          the host's view of PATH in NODE
#   debian_tree NODE PATH [RSYNC-ARGS...]
#                                a Debian 13 system at PATH in NODE: the
#                                lab's node image copied with rsync -aHAX
#                                --numeric-ids (ids, hard links, ACLs and
#                                xattrs as they are), plus a service's
#                                files owned by SVC_UID:SVC_GID (TREE_SVC)
#                                and one owned by ALIEN_ID, an id no 65536
#                                id map covers (TREE_ALIEN)
#   tree_ct NODE NAME ROOTFS [MODE [INIT]]
#                                an LXC container NAME on NODE (config in
#                                /var/lib/lxc/NAME) whose root is ROOTFS,
#                                INIT its init (default: ROOTFS's
#                                /bin/sleep infinity), no network; MODE
#                                idmap (the default): unprivileged
#                                (lxc.idmap: 0 -> CT_BASE, CT_RANGE ids), its
#                                root an idmapped mount (lxc.rootfs.options
#                                = idmap=container); userns: unprivileged,
#                                its root as it is; privileged: no user
#                                namespace
#
# The image of a loop file system is $LOOPFS/<node><path, / as _>.img on
# the host.  The loop device is attached with autoclear once mounted: it
# goes when the mount does, with the node when it is powered off too, and
# lab down removes what is left.  Nothing to do with pacemaker: the
# functions need the node running, not the cluster.

LOOPFS=${VCHA_LAB_VAR:-/var/lib/vcha-lab}/loopfs
SVC_UID=104
SVC_GID=109
ALIEN_ID=70000
TREE_SVC=/var/lib/vcha-svc      # directory and files of SVC_UID:SVC_GID
TREE_ALIEN=/var/lib/vcha-alien  # a file of ALIEN_ID:ALIEN_ID
CT_BASE=100000
CT_RANGE=65536

loopfs_img() { echo "$LOOPFS/$1$(tr / _ <<< "$2").img"; }

node_path() { echo "/proc/$(lab pid "$1")/root$2"; }

# loopfs_loops IMG: the loop devices backed by IMG, even a removed IMG
loopfs_loops() {
    local f
    for f in /sys/block/loop*/loop/backing_file; do
        [ -r "$f" ] || continue
        case $(cat "$f" 2> /dev/null) in
        "$1" | "$1 (deleted)")
            f=${f#/sys/block/}
            echo "/dev/${f%%/*}"
            ;;
        esac
    done
}

# loopfs_unmount NODE PATH IMG: unmount PATH in NODE while one of IMG's
# loop devices is mounted there (and nothing else)
loopfs_unmount() {
    local n=$1 path=$2 dev mm mounted
    lab pid "$n" > /dev/null 2>&1 || return 0
    for _ in 1 2 3 4 5; do
        mounted=$(ex "$n" findmnt -n -o MAJ:MIN --mountpoint "$path" 2> /dev/null |
            tail -1 | tr -d ' ')
        [ -n "$mounted" ] || return 0
        for dev in $(loopfs_loops "$3"); do
            mm=$(($(stat -c '0x%t' "$dev"))):$(($(stat -c '0x%T' "$dev")))
            [ "$mm" = "$mounted" ] && break
            mm=
        done
        [ -n "$mm" ] || return 0
        ex "$n" umount "$path" 2> /dev/null && continue
        sleep 0.2
    done
    # still busy (a container on it that runs on): detached all the same,
    # the file system goes with its last user
    echo "loopfs: $path is busy on $n: detached lazily" >&2
    ex "$n" umount -l "$path"
}

loopfs_drop() {
    local img dev
    img=$(loopfs_img "$1" "$2")
    loopfs_unmount "$1" "$2" "$img"
    for dev in $(loopfs_loops "$img"); do
        # a loop still in use (a mount elsewhere) only gets autoclear
        losetup -d "$dev" 2> /dev/null || true
    done
    rm -f "$img"
}

loopfs_make() {
    local n=$1 path=$2 size=$3 img dev mm
    img=$(loopfs_img "$n" "$path")
    loopfs_drop "$n" "$path"
    mkdir -p "$LOOPFS"
    truncate -s "$size" "$img" || return 1
    # no lazy initialisation: a kernel thread writing inode tables in the
    # background for minutes would be in every figure measured on it
    mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0,nodiscard \
        "$img" || return 1
    dev=$(losetup --find --show "$img") || return 1
    mm="$(($(stat -c '0x%t' "$dev"))) $(($(stat -c '0x%T' "$dev")))"
    # The node's /dev has no loop devices (nor may the node make any): a
    # node for it, made from outside the node's device cgroup, serves the
    # mount and goes
    if ! ex "$n" sh -c "mkdir -p '$path' && rm -f /dev/${dev#/dev/} &&
        mknod /dev/${dev#/dev/} b $mm && mount -t ext4 $dev '$path';
        rc=\$?; rm -f /dev/${dev#/dev/}; exit \$rc"; then
        losetup -d "$dev"
        rm -f "$img"
        return 1
    fi
    # mounted: detaching now sets autoclear, so that the loop device goes
    # with the mount, whatever ends it
    losetup -d "$dev"
}

debian_tree() {
    local n=$1 path=$2 img
    shift 2
    img=$("$(dirname "$LAB")/image") || return 1
    # over lab exec as over ssh: the receiver runs in the node (rsync 3.4
    # and later refuse a destination reached through /proc/PID/root)
    ex "$n" mkdir -p "$path" &&
        rsync -aHAX --numeric-ids --delete -e "$LAB exec" "$@" \
            "$img/" "$n:$path/" || return 1
    ex "$n" sh -c "set -e; cd '$path'
        mkdir -p .$TREE_SVC .$TREE_ALIEN
        echo \"a service's data\" > .$TREE_SVC/data
        echo \"a service's log\" > .$TREE_SVC/log
        echo 'owned by an id beyond 65535' > .$TREE_ALIEN/file
        chmod 750 .$TREE_SVC && chmod 640 .$TREE_SVC/data
        chown -R $SVC_UID:$SVC_GID .$TREE_SVC
        chown $ALIEN_ID:$ALIEN_ID .$TREE_ALIEN/file"
}

tree_ct() {
    local n=$1 name=$2 rootfs=$3 mode=${4:-idmap} init=${5:-/bin/sleep infinity}
    local ids="lxc.idmap = u 0 $CT_BASE $CT_RANGE
lxc.idmap = g 0 $CT_BASE $CT_RANGE" opts=
    case $mode in
    idmap) opts="lxc.rootfs.options = idmap=container" ;;
    userns) ;;
    privileged) ids= ;;
    *) echo "tree_ct: unknown mode $mode" >&2 && return 2 ;;
    esac
    # proc:mixed and sys:ro as LXC's own templates; the rest as mkct's
    ex "$n" sh -c "mkdir -p /var/lib/lxc/$name &&
        cat > /var/lib/lxc/$name/config" << CONF
lxc.uts.name = $name
lxc.rootfs.path = dir:$rootfs
$opts
$ids
lxc.init.cmd = $init
lxc.net.0.type = empty
lxc.tty.max = 0
lxc.pty.max = 0
lxc.console.path = none
lxc.mount.auto = proc:mixed sys:ro
lxc.autodev = 1
CONF
}
