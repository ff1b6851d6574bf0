#!/bin/bash
# ocf:vcha:vm with a real QEMU guest (tests/vm/guest-build, TCG) of a
# private libvirtd: start from config, monitor, a graceful stop through the
# ACPI power button (the guest powers itself off: no destroy), a guest
# panic (pvpanic) that monitor reports as a failure and stop clears, and
# the utilization monitor would write (1 vCPU, 128 MiB).  The health job
# (vchad's vmwatch, started by the agent) reads the guest through
# libvirt's bulk statistics: a QEMU stopped with SIGSTOP is judged hung
# and fails a depth-10 monitor after health_grace, and normal again after
# SIGCONT; the panic is judged panicked.  Start of the crashed transient
# domain creates it again from config; stop of a crashed one destroys it
# at once.  Stop of a guest whose QEMU is stopped (SIGSTOP): the shutdown
# gets no answer, the domain is destroyed within the stop's timeout.
# migrate_to a libvirtd that never answers: the migration's job is
# aborted before the deadline and the domain runs on.  What the guest
# does is checked on its console, apart from the agent.
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
# crash: 0 once libvirt has the guest crashed (pvpanic), within 90 s.  The
# guest prints "up" as it starts reading its command port: a command
# that comes before it opened the port is lost, so it is sent again
# every 5 s; drain_cmds drops what a guest left unread before the next
# one starts
crash() {
    local i
    for ((i = 0; i < 450; i++)); do
        ((i % 25 == 0)) && guest_cmd "$work" crash
        [ "$(state)" = crashed ] && return 0
        sleep 0.2
    done
    return 1
}
drain_cmds() {
    local fd
    exec {fd}<> "$work/cmd.in"
    while read -r -t 0.1 -u "$fd" _; do :; done
    exec {fd}>&-
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
crash
tap_is "$(state)" crashed "the guest panicked (pvpanic): libvirt has it crashed"
wait_verdict panicked 10
tap_ok $? "the health job judges it panicked"
agent monitor
tap_is "$RC" 1 "monitor of a panicked guest fails"
tap_like "$(reason)" "*vm1 crashed*" "saying so ($(reason))"
# kept crashed (on_crash=preserve), the transient domain is gone once
# destroyed: start creates it again from config
off=$(console_size)
drain_cmds
agent start $H
tap_is "$RC" 0 "start of the crashed transient domain ($(reason))"
tap_like "$(cat "$work/out")" "*vm1 crashed: destroyed it to start it again*" \
    "it was destroyed first"
tap_is "$(state)" running "virsh: running again"
up "$off"
tap_ok $? "the guest booted again"
crash
tap_is "$(state)" crashed "it panicked again"
# a graceful try would wait for shutdown_timeout (libvirt accepts the
# power button of a crashed QEMU, which ignores it)
t0=$EPOCHREALTIME
agent stop shutdown_mode=acpi shutdown_timeout=60s
ms=$(ms_since "$t0")
tap_is "$RC" 0 "stop clears the crashed domain"
tap_cond "ms < 10000" "at once, not after shutdown_timeout (60 s; $ms ms)"
tap_is "$(state)" none "gone"
tap_like "$("$CTL" status 2> /dev/null)" "*: 0 jobs*" "its health job is gone"
agent monitor
tap_is "$RC" 7 "monitor: not running"

# ------------------------------------------------------------ a stopped QEMU
# virDomainShutdownFlags waits for QEMU's monitor, which a stopped QEMU
# never answers: the graceful part gives up at shutdown_timeout and the
# destroy (which kills QEMU first) ends it within the stop's timeout
off=$(console_size)
drain_cmds
agent start
tap_is "$RC" 0 "started again ($(reason))"
up "$off"
tap_ok $? "the guest booted"
qemu=$(pgrep -f "qemu-system-x86_64 .*guest=vm1")
kill -STOP $qemu
t0=$EPOCHREALTIME
TIMEOUT=30000 agent stop shutdown_mode=acpi shutdown_timeout=3s
ms=$(ms_since "$t0")
tap_is "$RC" 0 "stop of a guest whose QEMU is stopped (SIGSTOP) ($(reason))"
tap_cond "ms >= 3000 && ms < 30000" \
    "after shutdown_timeout, within the stop's timeout ($ms ms of 30000)"
tap_like "$(cat "$work/out")" "*vm1: no answer to its shutdown in time: destroying it*" \
    "the shutdown got no answer: destroyed"
tap_is "$(state)" none "the transient domain is gone"
pgrep -f "qemu-system-x86_64 .*guest=vm1" > /dev/null
tap_is "$?" 1 "no QEMU of vm1 runs"
# ------------------------------------------------------------ migration
# a domain with no disk (one without shared storage is refused before its
# migration begins) migrated to a libvirtd that accepts and never
# answers, so that the migration cannot end: shortly before the
# operation's deadline migrate_to aborts its job, and the domain runs on
# here
sed -e 's|<name>vm1</name>|<name>vmmig</name>|' -e '/<disk /,/<\/disk>/d' \
    -e '/<serial /,/<\/serial>/d' "$work/vm1.xml" > "$work/vmmig.xml"
virsh -q create "$work/vmmig.xml" > /dev/null
tap_is "$(virsh domstate vmmig 2> /dev/null | grep .)" running \
    "a domain with no disk, vmmig, runs"
/usr/bin/python3 -c 'import socket, sys
s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen(8)
held = []
while True:
    held.append(s.accept()[0])' "$work/hung.sock" &
hung_pid=$!
for _ in $(seq 50); do [ -S "$work/hung.sock" ] && break; sleep 0.1; done
t0=$EPOCHREALTIME
TIMEOUT=20000 OCF_RESKEY_CRM_meta_migrate_target=node2 agent migrate_to \
    domain=vmmig remoteuri="qemu+unix:///system?socket=$work/hung.sock"
ms=$(ms_since "$t0")
tap_is "$RC" 1 "migrate_to a target that never answers fails"
tap_cond "ms < 20000" "within the operation's timeout ($ms ms of 20000)"
tap_like "$(reason)" "*migration of vmmig to node2 did not end by the operation's deadline: aborted it; vmmig runs on here*" \
    "its job aborted, saying so ($(reason))"
tap_is "$(virsh domstate vmmig 2> /dev/null | grep .)" running "virsh: vmmig runs here"
kill "$hung_pid"
wait "$hung_pid" 2> /dev/null
virsh -q destroy vmmig > /dev/null 2>&1

# ------------------------------------------------------------ no libvirtd
# libvirtd stopped (SIGSTOP): /proc stands in for it on qemu:///
off=$(console_size)
drain_cmds
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
TIMEOUT=10000 agent stop
tap_is "$RC" 0 "stop again, libvirtd still stopped: no QEMU of vm1, proved off by /proc"
tap_like "$(cat "$work/out")" "*no process of vm1 runs here: stopped*" "saying so"
kill -CONT "$LIBVIRTD_PID"
for _ in $(seq 1 100); do [ "$(state)" = none ] && break; sleep 0.1; done
tap_is "$(state)" none "libvirtd, answering again, has the domain gone"

if [ "$tap_failed" -gt 0 ]; then
    tap_diag "the console's last lines:"
    tail -20 "$work/console.log" | tr -d '\r' | sed 's/^/#  /'
    sed 's/^/#  /' "$work/out"
fi
tap_done
