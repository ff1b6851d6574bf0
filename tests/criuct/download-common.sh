# A container made the way `lxc-create -t download` makes one, on a node
# that cannot download: Debian's own archive gives the root filesystem
# (debootstrap, minbase), the configuration is the template's.  Sourced by
# tests/criuct/download-ct.sh and tests/bench/ct-monitor (bash).
#
#   dl_rootfs                  the cached root filesystem's path (built once)
#   dl_config LXCPATH NAME     write LXCPATH/NAME/config as the template does

DL_CACHE=${VCHA_TEST_CACHE:-/var/cache/vcha-test}
DL_SUITE=bookworm

dl_mirror() {
    local m
    m=$(awk '/^URIs:/ { print $2; exit }' /etc/apt/sources.list.d/debian.sources 2> /dev/null || true)
    [ -n "$m" ] || m=$(awk '/^deb / { print $2; exit }' /etc/apt/sources.list 2> /dev/null || true)
    echo "${m:-http://deb.debian.org/debian}"
}

# The root filesystem, built with debootstrap the first time (about 1.5
# minutes, 200 MB), under a lock: tests of two build trees may ask at once.
# An interrupted build is discarded, never used.
dl_rootfs() {
    local root=$DL_CACHE/$DL_SUITE-minbase
    mkdir -p "$DL_CACHE"
    (
        flock 9
        if [ ! -e "$root/.vcha-test-rootfs" ]; then
            echo "# building $root with debootstrap (once)" >&2
            rm -rf "$root.tmp"
            debootstrap --variant=minbase "$DL_SUITE" "$root.tmp" \
                "$(dl_mirror)" > "$root.log" 2>&1 || {
                tail -5 "$root.log" >&2
                exit 1
            }
            touch "$root.tmp/.vcha-test-rootfs"
            rm -rf "$root"
            mv "$root.tmp" "$root"
        fi
    ) 9> "$DL_CACHE/.lock" || return 1
    echo "$root"
}

# What lxc-create -t download writes for Debian (the image's config with
# the template's head), less the network: the template's veth on lxcbr0
# needs lxc-net's bridge, which a test may not make, so the container gets
# a network namespace of its own and no interface (lxc.net.0.type = empty).
# The image's init would be systemd; a minbase root has none, so init is
# sleep, which writes nothing into the shared root filesystem.  LXC 5.0
# has no debian.common.conf any more (6.0 neither): common.conf holds the
# ttys, ptys and devices.
dl_config() {
    local lxcpath=$1 name=$2 rootfs
    rootfs=$(dl_rootfs) || return 1
    mkdir -p "$lxcpath/$name"
    {
        echo "# Template used to create this container: /usr/share/lxc/templates/lxc-download"
        echo "# Parameters passed to the template: -d debian -r $DL_SUITE -a amd64"
        echo "# For additional config options, please look at lxc.container.conf(5)"
        echo
        echo "# Uncomment the following line to support nesting containers:"
        echo "#lxc.include = /usr/share/lxc/config/nesting.conf"
        echo "# (Be aware this has security implications)"
        echo
        echo
        echo "# Distribution configuration"
        echo "lxc.include = /usr/share/lxc/config/common.conf"
        if [ -e /usr/share/lxc/config/debian.common.conf ]; then
            echo "lxc.include = /usr/share/lxc/config/debian.common.conf"
        fi
        echo "lxc.arch = linux64"
        echo
        echo "# Container specific configuration"
        echo "lxc.apparmor.profile = generated"
        echo "lxc.apparmor.allow_nesting = 1"
        echo "lxc.rootfs.path = dir:$rootfs"
        echo "lxc.uts.name = $name"
        echo "lxc.init.cmd = /bin/sleep infinity"
        echo
        echo "# Network configuration"
        echo "lxc.net.0.type = empty"
    } > "$lxcpath/$name/config"
}
