# A private libvirtd for the tests (bash), in the caller's own mount, pid and
# network namespaces (see libvirtd_enter), with the LXC driver and the QEMU
# driver (qemu:///system, TCG guests: tests/lib/guest.sh) usable:
#
#   libvirtd_enter "$@"   re-run the calling script inside new namespaces
#   libvirtd_lxc_enter "$@"
#                         (a TAP test's start) root and the programs of
#                         the LXC driver checked, then libvirtd_enter
#   libvirtd_start DIR    start virtlogd and libvirtd on private state
#   libvirtd_stop         stop them
#
# libvirt 9's LXC driver cannot start a container when cgroup v2 is mounted
# beside the v1 hierarchies at /sys/fs/cgroup/unified ("Unable to create
# directory /sys/fs/cgroup/unified"); the private mount namespace hides it.
#
# The QEMU driver's settings (qemu.conf, written into the private copy of
# /etc/libvirt): QEMU runs as root and nothing is relabelled or chowned, so
# that it opens the guest's kernel in /var/cache and a test's files in its
# mktemp directory (mode 0700) as they are; no AppArmor profile
# (virt-aa-helper would confine QEMU to paths of its own choosing); no
# per-domain /dev namespace and no cgroup controllers, as the private
# namespaces have neither systemd-machined nor a /dev of their own.

libvirtd_enter() {
    if [ -z "${VCHA_IN_LIBVIRT_NS:-}" ]; then
        unshare --mount --propagation private true 2>/dev/null ||
            tap_bail "cannot make a private mount namespace"
        exec env VCHA_IN_LIBVIRT_NS=1 unshare --mount --pid --fork \
            --mount-proc --net --propagation private bash "$0" "$@"
    fi
}

libvirtd_lxc_enter() {
    local prog
    [ "$(id -u)" = 0 ] || tap_skip_all "libvirtd and LXC domains need root"
    for prog in libvirtd virtlogd virsh unshare ip; do
        command -v "$prog" > /dev/null ||
            tap_bail "$prog missing: install libvirt-daemon-system libvirt-daemon-driver-lxc libvirt-clients"
    done
    libvirtd_enter "$@"
}

libvirtd_start() {
    local dir=$1 d i
    LIBVIRTD_DIR=$dir
    mkdir -p "$dir"
    ip link set lo up
    mount -t tmpfs tmpfs /run
    mkdir -p /run/libvirt /run/lock
    for d in /var/lib/libvirt /var/log/libvirt /var/cache/libvirt; do
        mkdir -p "$d"
        mount -t tmpfs tmpfs "$d"
    done
    mkdir -p /var/lib/libvirt/lxc
    # domain definitions land in /etc/libvirt: keep them private too
    cp -a /etc/libvirt "$dir/etc-libvirt"
    mount --bind "$dir/etc-libvirt" /etc/libvirt
    cat > /etc/libvirt/qemu.conf <<'CONF'
user = "root"
group = "root"
dynamic_ownership = 0
remember_owner = 0
security_driver = "none"
namespaces = [ ]
cgroup_controllers = [ ]
CONF
    if mountpoint -q /sys/fs/cgroup/unified; then
        umount /sys/fs/cgroup/unified
    fi
    virtlogd -d || return 1
    libvirtd > "$dir/libvirtd.out" 2>&1 &
    LIBVIRTD_PID=$!
    for i in $(seq 1 100); do
        virsh -c lxc:/// version > /dev/null 2>&1 && return 0
        sleep 0.1
    done
    return 1
}

libvirtd_stop() {
    [ -n "${LIBVIRTD_PID:-}" ] && kill "$LIBVIRTD_PID" 2>/dev/null
    LIBVIRTD_PID=
}
