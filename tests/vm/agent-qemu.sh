#!/bin/bash
# ocf:vcha:vm with a real QEMU guest (tests/vm/guest-build, TCG) of a
# private libvirtd: start from config, monitor, a graceful stop through the
# ACPI power button (the guest powers itself off: no destroy), a guest
# panic (pvpanic) that monitor reports as a failure and stop clears, and
# the utilization monitor would write (1 vCPU, 128 MiB).  The health job
# (vchad's vmwatch, started by the agent) reads the guest through
# libvirt's bulk statistics: a QEMU stopped with SIGSTOP is judged hung
# and fails a depth-10 monitor after health_grace, and normal again after
# SIGCONT; the panic is judged panicked.  What the guest does is checked
# on its console, apart from the agent.
set -u
. "$top_srcdir/tests/lib/tap.sh"
. "$top_srcdir/tests/lib/libvirtd.sh"
. "$top_srcdir/tests/lib/guest.sh"
. "$top_srcdir/tests/lib/vmagent.sh"

guest_enter "$@"

VM=$top_builddir/agents/vm
CTL=$top_builddir/daemon/vchactl
work=$(mktemp -d)
trap 'virsh -q destroy vm1 > /dev/null 2>&1; libvirtd_stop; rm -rf "$work"' EXIT
vmagent_vchad "$work"
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
ms_since() { vmagent_ms_since "$1"; }
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
health_key() { vmagent_health vm1 "$1"; }
wait_verdict() { vmagent_wait vm1 fig.verdict "$1" "$2"; } # VERDICT SECONDS
H="hung_after=2s health_grace=3s"
# a recurring monitor (not a probe) at depth 10
deep() { OCF_CHECK_LEVEL=10 agent monitor $H CRM_meta_interval=10000; }
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
agent monitor CRM_meta_interval=10000
tap_is "$RC" 0 "monitor: running"
tap_like "$(cat "$work/out")" "*cpu utilization of vm1 to 1:*hv_memory utilization of vm1 to 128:*" \
    "the utilization it would write is the domain's (no cluster here)"

# ------------------------------------------------------------ health
agent stop force_stop=true
off=$(console_size)
agent start $H
tap_is "$RC" 0 "start with hung_after=2s health_grace=3s"
up "$off"
tap_ok $? "the guest booted"
tap_like "$("$CTL" status 2> /dev/null)" "*vm1*vmwatch*" "its health job runs"
wait_verdict normal 20
tap_ok $? "the job judges the running guest normal"
tap_is "$(health_key fig.source)" bulk "read through libvirt's bulk statistics"
tap_diag "a running guest as the job sees it: cpu $(health_key fig.cpu_pct) %, block $(health_key fig.block_bps) B/s"
deep
tap_is "$RC" 0 "monitor at depth 10: healthy"
qemu=$(pgrep -f "qemu-system-x86_64 .*guest=vm1")
kill -STOP $qemu
t0=$EPOCHREALTIME
wait_verdict hung 15
rc=$?
tap_ok $rc "QEMU stopped (SIGSTOP): the job says hung ($(ms_since "$t0") ms)"
[ $rc -eq 0 ] || "$CTL" health vm1 2>&1 | sed 's/^/#  /'
vmagent_grace_check
kill -CONT $qemu
wait_verdict normal 15
tap_ok $? "SIGCONT: normal again"
deep
tap_is "$RC" 0 "and the monitor passes"

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
agent start $H
tap_is "$RC" 0 "started again"
up "$off"
tap_ok $? "the guest booted"
guest_cmd "$work" crash
for _ in $(seq 1 300); do
    [ "$(state)" = crashed ] && break
    sleep 0.2
done
tap_is "$(state)" crashed "the guest panicked (pvpanic): libvirt has it crashed"
wait_verdict panicked 10
tap_ok $? "the health job judges it panicked"
agent monitor
tap_is "$RC" 1 "monitor of a panicked guest fails"
tap_like "$(reason)" "*vm1 crashed*" "saying so ($(reason))"
t0=$EPOCHREALTIME
agent stop shutdown_mode=acpi
ms=$(ms_since "$t0")
tap_is "$RC" 0 "stop clears the crashed domain"
tap_cond "ms < 30000" "at once, without waiting for a shutdown ($ms ms)"
tap_is "$(state)" none "gone"
tap_like "$("$CTL" status 2> /dev/null)" "*: 0 jobs*" "its health job is gone"
agent monitor
tap_is "$RC" 7 "monitor: not running"

# ------------------------------------------------------------ no libvirtd
# libvirtd stopped (SIGSTOP): /proc stands in for it on qemu:///
off=$(console_size)
agent start
up "$off"
tap_ok $? "started again, booted"
qemu=$(pgrep -f "qemu-system-x86_64 .*guest=vm1")
kill -STOP "$LIBVIRTD_PID"
t0=$EPOCHREALTIME
TIMEOUT=10000 agent monitor CRM_meta_interval=10000
ms=$(ms_since "$t0")
tap_is "$RC" 0 "monitor with libvirtd stopped: running, its QEMU seen in /proc"
tap_like "$(cat "$work/out")" "*gave no answer about vm1*its process runs here: running*" \
    "saying why"
tap_cond "ms < 10000" "within the operation's timeout ($ms ms of 10000)"
t0=$EPOCHREALTIME
TIMEOUT=20000 agent stop
ms=$(ms_since "$t0")
tap_is "$RC" 0 "stop with libvirtd stopped: done without libvirt"
tap_like "$(cat "$work/out")" "*destroying vm1 without libvirt: its process $qemu*" \
    "the QEMU process ended ($ms ms of 20000)"
pgrep -f "qemu-system-x86_64 .*guest=vm1" > /dev/null
tap_is "$?" 1 "no QEMU of vm1 left"
kill -CONT "$LIBVIRTD_PID"
for _ in $(seq 1 100); do [ "$(state)" = none ] && break; sleep 0.1; done
tap_is "$(state)" none "libvirtd, answering again, has the domain gone"
if [ "$tap_failed" -gt 0 ]; then
    tap_diag "the console's last lines:"
    tail -20 "$work/console.log" | tr -d '\r' | sed 's/^/#  /'
    sed 's/^/#  /' "$work/out"
fi
tap_done
