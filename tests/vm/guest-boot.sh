#!/bin/bash
# The VM tests' guest (tests/vm/guest-build) as a QEMU domain (TCG) of a
# private libvirtd: it boots, counts on its console and its disk, answers on
# its command pipe, powers off on the ACPI power button, finds its disk's
# count again at the next boot, and panics on command, which the pvpanic
# device reports to libvirt.  Its virtio NIC is on a bridge of the test's
# private network namespace (198.18.0.1/24 on the bridge, 198.18.0.2 the
# guest's), where its service on port 7000 answers with the counts in memory
# and on the disk.  Two boots; their times are printed as figures
# ("# boot: N ms", from virsh start to the guest's "up" line), never checked.
set -u
. "$top_srcdir/tests/lib/tap.sh"
. "$top_srcdir/tests/lib/libvirtd.sh"
. "$top_srcdir/tests/lib/guest.sh"

guest_enter "$@"

work=$(mktemp -d)
trap 'virsh -q destroy vm1 > /dev/null 2>&1; libvirtd_stop; rm -rf "$work"' EXIT
libvirtd_start "$work/libvirtd" ||
    {
        sed 's/^/#  /' "$work/libvirtd/libvirtd.out"
        tap_bail "libvirtd did not start"
    }
export LIBVIRT_DEFAULT_URI=qemu:///system
kib() { du -k "$1" | cut -f1; }
tap_diag "guest: $VCHA_GUEST"
k=$(kib "$VCHA_GUEST/vmlinuz")
i=$(kib "$VCHA_GUEST/initramfs.gz")
tap_diag "guest: kernel $k KiB, initramfs $i KiB"

ip link add vchabr0 type bridge &&
    ip addr add 198.18.0.1/24 dev vchabr0 &&
    ip link set vchabr0 up ||
    tap_bail "cannot make the bridge vchabr0"
guest_files "$work"
GUEST_NET=bridge:vchabr0 GUEST_IP=198.18.0.2/24 guest_xml vm1 "$VCHA_GUEST" "$work" > "$work/vm1.xml"
virsh -q define "$work/vm1.xml" > /dev/null ||
    tap_bail "virsh define failed"
state() { virsh domstate vm1 2> /dev/null | head -1; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }
console_size() { stat -c %s "$work/console.log" 2>/dev/null || echo 0; }
# wait_state STATE SECONDS
wait_state() {
    local i
    for ((i = 0; i < $2 * 10; i++)); do
        [ "$(state)" = "$1" ] && return 0
        sleep 0.1
    done
    return 1
}
# count_after OFFSET: the last count on the console after OFFSET
count_after() {
    tail -c +"$(($1 + 1))" "$work/console.log" | tr -d '\r' |
        sed -n 's/^vcha-guest: count=\([0-9]*\)$/\1/p' | tail -1
}
# boot: start vm1, wait for its "up" line after OFF, the console's size
# before the start (0 should the file have been truncated)
boot() {
    local t0
    off=$(console_size)
    t0=$(now_ms)
    virsh -q start vm1 > "$work/start.out" 2>&1 ||
        { sed 's/^/#  /' "$work/start.out"; tap_bail "virsh start failed"; }
    tap_is "$(state)" running "virsh domstate: running"
    if [ "$off" -gt 0 ]; then
        tap_cond "$(console_size) >= $off" "the console file is appended to"
        [ "$(console_size)" -ge "$off" ] || off=0
    fi
    if guest_wait "$work" "$off" '^vcha-guest: up$' 300 > /dev/null; then
        BOOT_MS=$(($(now_ms) - t0))
        tap_ok 0 "the guest is up"
        tap_diag "boot: $BOOT_MS ms"
    else
        tap_ok 1 "the guest is up"
        tail -20 "$work/console.log" | sed 's/^/#  /'
        tap_bail "no 'vcha-guest: up' on the console in 300 s"
    fi
}

# 1: a fresh disk; counting; the command pipe; the ACPI power button
boot
line=$(guest_wait "$work" 0 '^vcha-guest: (disk count=|no disk)' 1)
tap_is "$line" "vcha-guest: disk count=0" "the guest found its disk, empty"
guest_wait "$work" 0 '^vcha-guest: count=3$' 30 > /dev/null
tap_is "$(tail -c +1 "$work/console.log" | tr -d '\r' |
    sed -n 's/^vcha-guest: count=//p' | head -3 | tr '\n' ' ')" "1 2 3 " \
    "the counter advances by one: 1, 2, 3"
line=$(guest_wait "$work" 0 '^vcha-guest: net ' 1)
tap_is "$line" "vcha-guest: net 198.18.0.2/24 port 7000" \
    "the guest took its address from vcha.ip= and serves port 7000"
# answer_count LINE: N of "vcha-guest count=N disk=M"
answer_count() { sed -n 's/^vcha-guest count=\([0-9]*\) disk=[0-9]*$/\1/p'; }
a1=$(guest_answer 198.18.0.2)
c1=$(answer_count <<< "$a1")
[ -n "$c1" ]
tap_ok $? "port 7000 answers with the counts over the bridge ($a1)"
sleep 2
a2=$(guest_answer 198.18.0.2)
c2=$(answer_count <<< "$a2")
tap_cond "${c2:-0} > ${c1:-0}" "a later connection has a larger count ($a2)"
n=$(count_after 0)
tap_cond "${c2:-0} >= ${n:-0} - 2 && ${c2:-0} <= ${n:-0} + 1" \
    "the count answered is the guest's count (console: $n)"
off=$(console_size)
guest_cmd "$work" ping
guest_wait "$work" "$off" '^vcha-guest: pong$' 30 > /dev/null
tap_is "$?" 0 "it answers a ping sent through its command pipe"
virsh -q shutdown vm1 > /dev/null
wait_state "shut off" 60
tap_is "$(state)" "shut off" \
    "virsh shutdown (the ACPI power button) powers it off"
guest_wait "$work" "$off" '^vcha-guest: power button$' 1 > /dev/null
tap_is "$?" 0 "the guest saw the power button"
[ "$(state)" = "shut off" ] || virsh -q destroy vm1 > /dev/null
n=$(count_after 0)
d=$(guest_disk_count "$work/disk.raw")
tap_cond "${d:-0} >= ${n:-1} && ${d:-0} <= ${n:-1} + 1" \
    "the disk holds the last count seen on the console, or the next ($n: $d)"

# 2: the count on the disk read back at boot; a panic, reported and kept
boot
line=$(guest_wait "$work" "$off" '^vcha-guest: (disk count=|no disk)' 1)
tap_is "$line" "vcha-guest: disk count=$d" \
    "at boot it reads the count its disk held"
guest_wait "$work" "$off" '^vcha-guest: count=2$' 30 > /dev/null
tap_is "$(tail -c +"$((off + 1))" "$work/console.log" | tr -d '\r' |
    sed -n 's/^vcha-guest: count=//p' | head -1)" 1 \
    "the counter in memory starts again at 1"
a1=$(guest_answer 198.18.0.2)
dk=$(sed -n 's/^vcha-guest count=[0-9]* disk=\([0-9]*\)$/\1/p' <<< "$a1")
c1=$(answer_count <<< "$a1")
tap_cond "${c1:-0} >= 2 && ${dk:-0} >= ${c1:-0} - 1 && ${dk:-0} <= ${c1:-0} + 1" \
    "after a reboot it answers with the new counts, the disk's read back ($a1)"
guest_cmd "$work" crash
wait_state crashed 60
tap_is "$(state)" crashed "'crash' panics it; libvirt has it crashed (pvpanic)"
guest_wait "$work" "$off" 'Kernel panic' 1 > /dev/null
tap_is "$?" 0 "the console shows the kernel panic"
n=$(count_after "$off")
sleep 2
tap_is "$(count_after "$off")" "$n" "a panicked guest counts no more"
tap_is "$(state)" crashed "and stays crashed (panic=0)"
virsh -q destroy vm1 > /dev/null
tap_is "$(state)" "shut off" "virsh destroy: shut off"
d=$(guest_disk_count "$work/disk.raw")
tap_cond "${d:-0} >= ${n:-1} && ${d:-0} <= ${n:-1} + 1" \
    "the disk holds the last count before the panic, or the next ($n: $d)"
if [ "$tap_failed" -gt 0 ]; then
    tap_diag "the console's last lines:"
    tail -30 "$work/console.log" | tr -d '\r' | sed 's/^/#  /'
fi
tap_done
