# The VM tests' guest (bash): a domain of the private libvirtd
# (tests/lib/libvirtd.sh) that boots the kernel and initramfs
# tests/vm/guest-build made, under TCG.
#
#   guest_files DIR               make DIR/disk.raw (1 MiB of zeros) and
#                                 DIR/cmd.in, the guest's command pipe
#   guest_xml NAME GUEST DIR      print the domain XML: GUEST is the build's
#                                 directory, DIR the one of guest_files; the
#                                 console is written to DIR/console.log,
#                                 appended to at each start (never truncated)
#   guest_cmd DIR COMMAND         send a command (ping, crash, poweroff)
#   guest_wait DIR OFFSET ERE SECONDS
#                                 wait for a console line matching ERE after
#                                 byte OFFSET of the console; print it
#   guest_disk_count FILE         the count on the disk image FILE
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

# No network device; qemu64 under TCG (KVM is not assumed); on a panic,
# which the pvpanic device reports, the domain stays as it is ("crashed").
guest_xml() {
    local name=$1 guest=$2 dir=$3
    cat <<XML
<domain type='qemu'>
  <name>$name</name>
  <memory unit='MiB'>128</memory>
  <vcpu>1</vcpu>
  <cpu mode='custom' match='exact'><model fallback='forbid'>qemu64</model></cpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>$guest/vmlinuz</kernel>
    <initrd>$guest/initramfs.gz</initrd>
    <cmdline>$(cat "$guest/cmdline")</cmdline>
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
    <controller type='usb' model='none'/>
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

guest_enter() {
    local prog out
    [ "$(id -u)" = 0 ] || tap_skip_all "libvirtd and the guest's build need root"
    for prog in libvirtd virtlogd virsh unshare ip qemu-system-x86_64; do
        command -v "$prog" > /dev/null ||
            tap_bail "$prog missing: install libvirt-daemon-system" \
                "libvirt-clients qemu-system-x86"
    done
    if [ -z "${VCHA_IN_LIBVIRT_NS:-}" ]; then
        out=$("$top_srcdir/tests/vm/guest-build" 2>&1) ||
            {
                printf '%s\n' "$out" | sed 's/^/#  /'
                tap_bail "tests/vm/guest-build failed"
            }
        VCHA_GUEST=$(printf '%s\n' "$out" | tail -1)
        export VCHA_GUEST
    fi
    libvirtd_enter "$@"
}
