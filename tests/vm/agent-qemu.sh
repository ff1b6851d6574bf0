#!/bin/bash
# ocf:vcha:vm with a real QEMU guest (tests/vm/guest-build, TCG) of a
# private libvirtd: start from config, monitor, a graceful stop through the
# ACPI power button (the guest powers itself off: no destroy), a guest
# panic (pvpanic) that monitor reports as a failure and stop clears, and
# the utilization monitor would write (1 vCPU, 128 MiB).  What the guest
# does is checked on its console and its disk, apart from the agent.
set -u
. "$top_srcdir/tests/lib/tap.sh"
. "$top_srcdir/tests/lib/libvirtd.sh"
. "$top_srcdir/tests/lib/guest.sh"

[ "$(id -u)" = 0 ] || tap_skip_all "libvirtd and the guest's build need root"
for prog in libvirtd virtlogd virsh unshare ip qemu-system-x86_64; do
    command -v "$prog" > /dev/null ||
        tap_bail "$prog missing: install libvirt-daemon-system" \
            "libvirt-clients qemu-system-x86"
done
# built (or found in its cache) before the private network namespace
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

VM=$top_builddir/agents/vm
work=$(mktemp -d)
trap 'virsh -q destroy vm1 > /dev/null 2>&1; libvirtd_stop; rm -rf "$work"' EXIT
libvirtd_start "$work/libvirtd" ||
    {
        sed 's/^/#  /' "$work/libvirtd/libvirtd.out"
        tap_bail "libvirtd did not start"
    }
export LIBVIRT_DEFAULT_URI=qemu:///system HA_RSCTMP=$work/rsctmp
mkdir -p "$HA_RSCTMP"
guest_files "$work"
guest_xml vm1 "$VCHA_GUEST" "$work" > "$work/vm1.xml"

state() { virsh domstate vm1 2> /dev/null | grep . || echo none; }
console_size() { stat -c %s "$work/console.log" 2> /dev/null || echo 0; }
ms_since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%d", (b - a) * 1000 }'; }
# agent ACTION [PARAM=VALUE...]: as Pacemaker runs it; rc in RC
agent() {
    local action=$1 kv
    shift
    (
        export OCF_ROOT=/usr/lib/ocf OCF_RESOURCE_INSTANCE=vm1
        export OCF_RESKEY_config="$work/vm1.xml" OCF_RESKEY_CRM_meta_timeout=${TIMEOUT:-90000}
        for kv in "$@"; do export "OCF_RESKEY_$kv"; done
        exec "$VM" "$action"
    ) > "$work/out" 2>&1
    RC=$?
}
reason() { sed -n 's/^ocf-exit-reason://p' "$work/out"; }
up() { # up OFFSET: the guest printed "up" after OFFSET, within 300 s
    guest_wait "$work" "$1" '^vcha-guest: up$' 300 > /dev/null
}

# ------------------------------------------------------------ start, monitor
agent monitor
tap_is "$RC" 7 "probe before anything runs: not running"
off=$(console_size)
agent start
tap_is "$RC" 0 "start from config"
tap_is "$(state)" running "virsh: running"
up "$off"
tap_ok $? "the guest booted"
agent monitor
tap_is "$RC" 0 "monitor: running"
tap_like "$(cat "$work/out")" "*cpu utilization of vm1 to 1:*hv_memory utilization of vm1 to 128:*" \
    "the utilization it would write is the domain's (no cluster here)"

# ------------------------------------------------------------ graceful stop
# the guest powers off on the ACPI power button: no destroy
t0=$EPOCHREALTIME
agent stop shutdown_mode=acpi
ms=$(ms_since "$t0")
tap_is "$RC" 0 "stop with shutdown_mode=acpi"
tap_like "$(cat "$work/out")" "*vm1 shut down*" "the guest shut down ($ms ms)"
! grep -q "destroying" "$work/out"
tap_ok $? "without a destroy"
guest_wait "$work" "$off" '^vcha-guest: power button$' 1 > /dev/null
tap_is "$?" 0 "the guest saw the power button"
tap_is "$(state)" none "the transient domain is gone"

# ------------------------------------------------------------ a panic
off=$(console_size)
agent start
tap_is "$RC" 0 "started again"
up "$off"
tap_ok $? "the guest booted"
guest_cmd "$work" crash
for _ in $(seq 1 300); do
    [ "$(state)" = crashed ] && break
    sleep 0.2
done
tap_is "$(state)" crashed "the guest panicked (pvpanic): libvirt has it crashed"
agent monitor
tap_is "$RC" 1 "monitor of a panicked guest fails"
tap_like "$(reason)" "*vm1 crashed*" "saying so ($(reason))"
t0=$EPOCHREALTIME
agent stop shutdown_mode=acpi
ms=$(ms_since "$t0")
tap_is "$RC" 0 "stop clears the crashed domain"
tap_cond "ms < 30000" "at once, without waiting for a shutdown ($ms ms)"
tap_is "$(state)" none "gone"
agent monitor
tap_is "$RC" 7 "monitor: not running"
if [ "$tap_failed" -gt 0 ]; then
    tap_diag "the console's last lines:"
    tail -20 "$work/console.log" | tr -d '\r' | sed 's/^/#  /'
    sed 's/^/#  /' "$work/out"
fi
tap_done
