# The VM tests' guest (bash): a domain of the private libvirtd
# (tests/lib/libvirtd.sh) that boots the kernel and initramfs
# tests/vm/guest-build made, under TCG.
#
#   guest_files DIR               make DIR/disk.raw (1 MiB of zeros) and
#                                 DIR/cmd.in, the guest's command pipe
#   guest_xml NAME GUEST DIR      print the domain XML: GUEST is the build's
#                                 directory, DIR the one of guest_files; the
#                                 console is written to DIR/console.log,
#                                 appended to at each start (never truncated);
#                                 optional, from the environment:
#                                   GUEST_MEM=MiB  its memory (default 128)
#                                   GUEST_NET=bridge:BRIDGE  a virtio NIC on
#                                     the host's BRIDGE
#                                   GUEST_NET=user  a virtio NIC on QEMU's
#                                     user-mode network
#                                   GUEST_IP=ADDR/PREFIX  the guest's eth0
#                                     address (vcha.ip= on its command
#                                     line: the service on port 7000)
#                                   GUEST_GW=ADDR  its default route
#                                 (no GUEST_NET: no NIC, as the host tests
#                                 want)
#   guest_cmd DIR COMMAND         send a command (ping, crash, poweroff)
#   guest_wait DIR OFFSET ERE SECONDS
#                                 wait for a console line matching ERE after
#                                 byte OFFSET of the console; print it
#   guest_disk_count FILE         the count on the disk image FILE
#   guest_answer ADDR [SECONDS]   the line the guest's service on ADDR port
#                                 7000 answers ("vcha-guest count=N disk=M"),
#                                 waiting up to SECONDS (default 5)
#   guest_build                   build the guest (or find it in its cache)
#                                 into VCHA_GUEST
#   guest_enter "$@"              (a TAP test's start) root and the programs
#                                 checked, the guest built (or found in its
#                                 cache) into VCHA_GUEST before the private
#                                 network namespace, where apt could not
#                                 download the kernel; then libvirtd_enter
#
# What the guest prints and obeys is described in tests/vm/guest-build.

guest_files() {
    local dir=$1
    truncate -s 1M "$dir/disk.raw"
    # QEMU's pipe chardev reads PATH.in and writes PATH.out; the answers go
    # to the console, so PATH.out is only a file nobody reads
    mkfifo "$dir/cmd.in"
    : > "$dir/cmd.out"
}

# guest_nic: the <interface> element GUEST_NET asks for, or nothing
guest_nic() {
    case ${GUEST_NET:-} in
        '') ;;
        bridge:?*)
            printf '%s\n' "    <interface type='bridge'>" \
                "      <source bridge='${GUEST_NET#bridge:}'/>" \
                "      <model type='virtio'/>" \
                "      <rom enabled='no'/>" \
                "    </interface>"
            ;;
        user)
            printf '%s\n' "    <interface type='user'>" \
                "      <model type='virtio'/>" \
                "      <rom enabled='no'/>" \
                "    </interface>"
            ;;
        *)
            echo "guest_xml: GUEST_NET=$GUEST_NET: bridge:BRIDGE or user" >&2
            return 1
            ;;
    esac
}

# No network device unless GUEST_NET (without an option ROM: the kernel is
# booted directly, nothing boots from the network); qemu64 under TCG (KVM is not
# assumed); on a panic, which the pvpanic device reports, the domain stays
# as it is ("crashed").
guest_xml() {
    local name=$1 guest=$2 dir=$3 cmdline nic
    cmdline=$(cat "$guest/cmdline")
    [ -z "${GUEST_IP:-}" ] || cmdline="$cmdline vcha.ip=$GUEST_IP"
    [ -z "${GUEST_GW:-}" ] || cmdline="$cmdline vcha.gw=$GUEST_GW"
    nic=$(guest_nic) || return 1
    cat <<XML
<domain type='qemu'>
  <name>$name</name>
  <memory unit='MiB'>${GUEST_MEM:-128}</memory>
  <vcpu>1</vcpu>
  <cpu mode='custom' match='exact'><model fallback='forbid'>qemu64</model></cpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>$guest/vmlinuz</kernel>
    <initrd>$guest/initramfs.gz</initrd>
    <cmdline>$cmdline</cmdline>
  </os>
  <features><acpi/></features>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>restart</on_reboot>
  <on_crash>preserve</on_crash>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='raw'/>
      <source file='$dir/disk.raw'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <serial type='file'>
      <source path='$dir/console.log' append='on'/>
      <target port='0'/>
    </serial>
    <serial type='pipe'>
      <source path='$dir/cmd'/>
      <target port='1'/>
    </serial>
${nic:+$nic
}    <controller type='usb' model='none'/>
    <memballoon model='none'/>
    <panic model='isa'/>
  </devices>
</domain>
XML
}

guest_cmd() {
    local fd
    # opened read-write: never blocks, even with no QEMU reading
    exec {fd}<> "$1/cmd.in"
    echo "$2" >&"$fd"
    exec {fd}>&-
}

guest_wait() {
    local dir=$1 off=$2 ere=$3 secs=$4 i line
    for ((i = 0; i < secs * 20; i++)); do
        line=$(tail -c +"$((off + 1))" "$dir/console.log" 2>/dev/null |
            tr -d '\r' | grep -a -m1 -E "$ere")
        if [ -n "$line" ]; then
            echo "$line"
            return 0
        fi
        sleep 0.05
    done
    return 1
}

guest_disk_count() {
    head -c 64 "$1" | tr -d '\000' |
        sed -n 's/^vcha-guest count=\([0-9][0-9]*\) *$/\1/p'
}

guest_answer() {
    local fd line
    # bash's /dev/tcp: no nc needed on the host
    exec {fd}<> "/dev/tcp/$1/7000" || return 1
    read -r -t "${2:-5}" line <&"$fd"
    exec {fd}>&-
    [ -n "${line:-}" ] || return 1
    printf '%s\n' "$line"
}

guest_enter() {
    local prog
    [ "$(id -u)" = 0 ] || tap_skip_all "libvirtd and the guest's build need root"
    for prog in libvirtd virtlogd virsh unshare ip qemu-system-x86_64; do
        command -v "$prog" > /dev/null ||
            tap_bail "$prog missing: install libvirt-daemon-system" \
                "libvirt-clients qemu-system-x86"
    done
    [ -n "${VCHA_IN_LIBVIRT_NS:-}" ] || guest_build
    libvirtd_enter "$@"
}

guest_build() {
    local out
    out=$("$top_srcdir/tests/vm/guest-build" 2>&1) ||
        {
            printf '%s\n' "$out" | sed 's/^/#  /'
            tap_bail "tests/vm/guest-build failed"
        }
    VCHA_GUEST=$(printf '%s\n' "$out" | tail -1)
    export VCHA_GUEST
}
