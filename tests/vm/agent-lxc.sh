#!/bin/bash
# ocf:vcha:vm against a real libvirtd, with LXC domains (whose init is a
# process of this machine) where QEMU guests are not needed: start from
# config (transient) and of a defined domain, idempotence, probe, stop
# (graceful, then forced), the name recorded for a config that vanished,
# libvirtd stopped (SIGSTOP) during monitor and stop, and a libvirtd that
# is gone while the domain is provably off; the health job: start
# registers it with vchad (started by the agent, as on a node), stop
# removes it, a monitor at OCF_CHECK_LEVEL 10 re-registers a lost one, and
# a domain whose init is stopped (SIGSTOP: for LXC, CPU time is the
# container's cgroup's) is judged hung after hung_after and fails that
# monitor after health_grace, then recovers after SIGCONT.  Parameters
# that cannot be parsed: a probe fails (not configured) and a stop still
# stops the domain.  probe_tcp: a monitor at OCF_CHECK_LEVEL 20 connects
# to a domain whose init is a TCP listener, and fails on a closed port.
# The migration parameters' syntax at validate-all level 0.  Each
# outcome is checked apart from the agent: virsh, vchactl, and whether
# the domain's processes exist.
set -u
. "$top_srcdir/tests/lib/tap.sh"
. "$top_srcdir/tests/lib/libvirtd.sh"
. "$top_srcdir/tests/lib/vmagent.sh"

libvirtd_lxc_enter "$@"

VM=$top_builddir/agents/vm
CTL=$top_builddir/daemon/vchactl
work=$(mktemp -d)
trap 'libvirtd_stop; rm -rf "$work"' EXIT
vmagent_vchad "$work"
libvirtd_start "$work/libvirtd" ||
    { sed 's/^/#  /' "$work/libvirtd/libvirtd.out"; tap_bail "libvirtd did not start"; }
export HA_RSCTMP=$work/rsctmp
mkdir -p "$HA_RSCTMP"

# Each domain's init: a sleep with a marker argument nothing else uses.
MARK=$((86400 + $$))
domain_xml() { # domain_xml NAME MARK
    cat << XML
<domain type='lxc'>
  <name>$1</name>
  <memory>65536</memory>
  <os><type>exe</type><init>/bin/sleep</init><initarg>$2</initarg></os>
  <devices><console type='pty'/></devices>
</domain>
XML
}
domain_xml vm1 "$MARK" > "$work/vm1.xml"
domain_xml vm2 $((MARK + 1)) > "$work/vm2.xml"

alive() { pgrep -f "^/bin/sleep $1\$" > /dev/null; }
state() { virsh -c lxc:/// domstate "$1" 2> /dev/null | grep . || echo none; }
# agent ACTION [PARAM=VALUE...]: run it as Pacemaker would; rc in RC
agent() {
    local action=$1 kv
    shift
    (
        export OCF_ROOT=/usr/lib/ocf OCF_RESOURCE_INSTANCE=${INSTANCE:-vm1}
        export OCF_RESKEY_hypervisor=lxc:/// OCF_RESKEY_CRM_meta_timeout=${TIMEOUT:-20000}
        for kv in "$@"; do export "OCF_RESKEY_$kv"; done
        exec "$VM" "$action"
    ) > "$work/out" 2>&1
    RC=$?
}
reason() { sed -n 's/^ocf-exit-reason://p' "$work/out"; }

# ------------------------------------------------------------ lifecycle
agent monitor config="$work/vm1.xml"
tap_is "$RC" 7 "probe of a domain libvirt does not know: not running"
agent start config="$work/vm1.xml"
tap_is "$RC" 0 "start from config"
tap_is "$(state vm1)" running "virsh says running"
tap_like "$("$CTL" status 2> /dev/null)" "*vm1*vmwatch*" \
    "start registered the health job with vchad, which it started"
alive "$MARK"
tap_is "$?" 0 "its init runs"
agent start config="$work/vm1.xml"
tap_is "$RC" 0 "start again: success, nothing done"
tap_is "$(pgrep -fc "^/bin/sleep $MARK\$")" 1 "one init, not two"
agent monitor config="$work/vm1.xml"
tap_is "$RC" 0 "monitor: running"
# no cluster here: the utilization cannot be written, and that is only
# logged; what a recurring monitor would write is the domain's (1 vCPU,
# 64 MiB); a probe writes none
! grep -q utilization "$work/out"
tap_ok $? "a probe sets no utilization"
agent monitor config="$work/vm1.xml" CRM_meta_interval=10000
tap_is "$RC" 0 "a recurring monitor: running"
tap_like "$(cat "$work/out")" "*cpu utilization of vm1 to 1:*hv_memory utilization of vm1 to 64:*host_memory utilization of vm1 to 64:*" \
    "monitor sets the utilization from the domain (cpu 1, memory 64 MiB)"
agent monitor config="$work/vm1.xml" CRM_meta_interval=10000 \
    autoset_utilization_cpu=false autoset_utilization_hv_memory=false \
    autoset_utilization_host_memory=false
! grep -q utilization "$work/out"
tap_ok $? "not when told not to"

# config vanished: stop still knows the domain (recorded at start)
echo '<domain type="lxc"><name>' > "$work/vm1-half.xml" # being rewritten
agent monitor config="$work/vm1-half.xml"
tap_is "$RC" 0 "config half written: monitor asks libvirt by the recorded name"
mv "$work/vm1.xml" "$work/vm1.xml.away"
agent monitor config="$work/vm1.xml"
tap_is "$RC" 0 "config gone: monitor asks libvirt by the recorded name"
# an init that ignores SIGTERM (a sleep as pid 1): the graceful shutdown
# cannot end it, the destroy at shutdown_timeout does
t0=$EPOCHREALTIME
agent stop config="$work/vm1.xml" shutdown_timeout=2s
ms=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%d", (b - a) * 1000 }')
tap_is "$RC" 0 "config gone: stop"
tap_like "$(cat "$work/out")" "*did not shut down in time: destroying it*" \
    "a guest that does not shut down is destroyed"
tap_cond "ms >= 2000" "after shutdown_timeout ($ms ms)"
tap_is "$(state vm1)" none "the transient domain is gone"
tap_like "$("$CTL" status 2> /dev/null)" "*: 0 jobs*" "stop removed the health job"
alive "$MARK"
tap_is "$?" 1 "no process of it runs"
mv "$work/vm1.xml.away" "$work/vm1.xml"
agent stop config="$work/vm1.xml"
tap_is "$RC" 0 "stop again: success"
agent monitor config="$work/vm1.xml"
tap_is "$RC" 7 "monitor: not running"

# no name anywhere: an unreadable config is an error for monitor, never
# "not running"; stop with no start recorded since boot succeeds
INSTANCE=vm-never
agent monitor config="$work/none.xml"
tap_is "$RC" 1 "monitor with config unreadable and no record: an error"
tap_like "$(reason)" "*cannot read config*set the domain parameter*" \
    "saying why ($(reason))"
agent stop config="$work/none.xml"
tap_is "$RC" 0 "stop with config unreadable and no record: nothing ran here"
agent start config="$work/none.xml"
tap_is "$RC" 5 "start with config unreadable: not installed here"
unset INSTANCE

# ------------------------------------------------------------ bad parameters
# a value that cannot be parsed says nothing of whether the domain runs
# (started with earlier parameters): a probe must not say "not running",
# nor may a stop leave it running, or Pacemaker would start it twice
agent start config="$work/vm1.xml"
tap_is "$RC" 0 "vm1 started again"
agent monitor config="$work/vm1.xml" hung_after=abc
tap_is "$RC" 6 "probe with hung_after=abc while vm1 runs: not configured"
tap_like "$(reason)" "*hung_after*abc*" "naming the parameter ($(reason))"
agent stop config="$work/vm1.xml" hung_after=abc force_stop=true
tap_is "$RC" 0 "stop with hung_after=abc"
tap_is "$(state vm1)" none "stopped the domain the start here recorded"
alive "$MARK"
tap_is "$?" 1 "no process of vm1 runs"
# no record (started by hand): the domain the usable parameters name
INSTANCE=vm-by-hand
virsh -q -c lxc:/// create "$work/vm2.xml" > /dev/null
tap_is "$(state vm2)" running "vm2 started by hand"
agent stop domain=vm2 spin_cpu_pct=abc force_stop=true
tap_is "$RC" 0 "stop with spin_cpu_pct=abc and no record"
tap_is "$(state vm2)" none "stopped the domain the parameters name"
alive $((MARK + 1))
tap_is "$?" 1 "no process of vm2 runs"
agent stop domain=vm2 spin_cpu_pct=abc
tap_is "$RC" 0 "again: libvirt says it is off, success"
unset INSTANCE

# a defined (persistent) domain, by name, stopped for good
virsh -q -c lxc:/// define "$work/vm2.xml" > /dev/null
INSTANCE=vm2
agent start domain=vm2
tap_is "$RC" 0 "start of a defined domain by name"
tap_is "$(state vm2)" running "virsh says running"
t0=$EPOCHREALTIME
TIMEOUT=60000 agent stop domain=vm2 force_stop=true shutdown_timeout=30s
ms=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%d", (b - a) * 1000 }')
tap_is "$RC" 0 "stop with force_stop"
# a graceful try would wait 30 s (shutdown_timeout) for this init, which
# ignores SIGTERM
tap_cond "ms < 10000" "destroyed without waiting for a shutdown ($ms ms)"
tap_is "$(state vm2)" "shut off" "defined, shut off"
alive $((MARK + 1))
tap_is "$?" 1 "no process of it runs"

# ------------------------------------------------------------ migration
# (this namespace has only its loopback: the target cannot be reached)
agent start domain=vm2
OCF_RESKEY_CRM_meta_migrate_target=node2.lab agent migrate_to domain=vm2 \
    migration_transport=tcp migration_network_suffix=-mig
tap_is "$RC" 1 "migrate_to a target that cannot be reached fails"
tap_like "$(cat "$work/out")" "*migrating vm2 to node2.lab (lxc+tcp://node2-mig.lab/)*" \
    "to the hypervisor URI with transport, the suffix before the first dot"
tap_like "$(reason)" "*migration of vm2 to node2.lab failed*" "saying so"
tap_is "$(state vm2)" running "vm2 runs on here"
OCF_RESKEY_CRM_meta_migrate_target=node2 agent migrate_to domain=vm2 \
    remoteuri=lxc+tcp://%n-x:1/ migrateuri=tcp:%n:49152
tap_like "$(cat "$work/out")" "*migrating vm2 to node2 (lxc+tcp://node2-x:1/)*" \
    "remoteuri, %n replaced"
agent migrate_to domain=vm2
tap_is "$RC" 6 "migrate_to with no migrate target: not configured"
agent stop domain=vm2 force_stop=true
tap_is "$RC" 0 "stopped"

# ------------------------------------------------------------ hung libvirtd
agent start domain=vm2
tap_is "$RC" 0 "started again"
uuid2=$(virsh -c lxc:/// domuuid vm2 | grep .)
kill -STOP "$LIBVIRTD_PID"
t0=$EPOCHREALTIME
TIMEOUT=4000 agent monitor domain=vm2
ms=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%d", (b - a) * 1000 }')
tap_is "$RC" 0 "monitor with libvirtd stopped: running, its libvirt_lxc seen in /proc"
tap_like "$(cat "$work/out")" "*gave no answer about vm2 within*its process runs here: running*" \
    "saying why"
tap_cond "ms < 4000" "within the operation's timeout ($ms ms of 4000)"
TIMEOUT=4000 agent monitor domain="$uuid2"
tap_is "$RC" 1 "the same, the domain given by UUID: fails (no process carries a UUID)"
TIMEOUT=4000 agent stop domain=vm2
tap_is "$RC" 1 "stop with libvirtd stopped while vm2 runs: fails (LXC: killing libvirt_lxc could leave the container behind; a fence, not two)"
alive $((MARK + 1))
tap_is "$?" 0 "vm2 still runs"
kill -CONT "$LIBVIRTD_PID"
agent stop domain=vm2
tap_is "$RC" 0 "stop once libvirtd answers"
uuid=$(virsh -c lxc:/// domuuid vm2 | grep .)
kill -STOP "$LIBVIRTD_PID"
TIMEOUT=4000 agent stop domain=vm2
tap_is "$RC" 1 "stop with libvirtd stopped and no libvirt_lxc of vm2: fails all the same (its container may outlive it)"
# no process carries a UUID: /proc cannot prove the domain off
TIMEOUT=4000 agent stop domain="$uuid"
tap_is "$RC" 1 "the same, the domain given by UUID: fails (nothing proves it off)"
kill -CONT "$LIBVIRTD_PID"

# ------------------------------------------------------------ health
# an init that keeps its container ticking (about 2 % of a CPU), as a
# guest's kernel does: one that only sleeps would be judged hung
cat > "$work/vm3.xml" << XML
<domain type='lxc'>
  <name>vm3</name>
  <memory>65536</memory>
  <os><type>exe</type><init>/bin/sh</init><initarg>-c</initarg>
  <initarg>while :; do i=0; while [ \$i -lt 3000 ]; do i=\$((i+1)); done; sleep 0.1; done; : $MARK</initarg></os>
  <devices><console type='pty'/></devices>
</domain>
XML
health_key() { vmagent_health "$@"; }
wait_fig() { vmagent_wait "$1" "$3" "$2" "${4:-20}"; } # ID VALUE KEY [SECONDS]
INSTANCE=vm3
H="config=$work/vm3.xml hung_after=2s health_grace=3s"
# a recurring monitor (not a probe) at depth 10
deep() { OCF_CHECK_LEVEL=10 agent monitor $H CRM_meta_interval=10000 "$@"; }
agent start $H
tap_is "$RC" 0 "start of vm3, with hung_after=2s health_grace=3s"
tap_like "$("$CTL" status 2> /dev/null)" "*vm3*vmwatch*" "its health job runs"
wait_fig vm3 normal fig.verdict
tap_ok $? "the job judges it normal"
tap_is "$(health_key vm3 fig.source)" info \
    "read through virDomainGetInfo (LXC has no bulk statistics)"
cpu=$(health_key vm3 fig.cpu_pct)
tap_cond "${cpu%.*} >= 0 && ${cpu%.*} < 50" "its CPU use as the job sees it ($cpu %)"
deep
tap_is "$RC" 0 "monitor at depth 10: healthy"
init=$(pgrep -f "^/bin/sh -c while.*: $MARK\$")
kill -STOP "$init"
t0=$EPOCHREALTIME
wait_fig vm3 hung fig.verdict 15
tap_ok $? "init stopped: the job says hung"
ms=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%d", (b - a) * 1000 }')
# hung_after of stalled intervals, counted from the first whole one, and
# the report after it: 2 to 4 s after the stop, plus the polling here
tap_cond "ms >= 1500 && ms < 6000" "after hung_after (2 s; $ms ms)"
vmagent_grace_check
agent monitor $H CRM_meta_interval=10000
tap_is "$RC" 0 "at depth 0 the health is not judged"
kill -CONT "$init"
wait_fig vm3 normal fig.verdict 10
tap_ok $? "SIGCONT: normal again"
deep
tap_is "$RC" 0 "and the monitor passes"
"$CTL" remove vm3 > /dev/null 2>&1
deep
tap_is "$RC" 0 "a lost job: the monitor passes"
tap_like "$(cat "$work/out")" "*had lost the health job of vm3*" "and says so"
tap_like "$("$CTL" status 2> /dev/null)" "*vm3*vmwatch*" "the job is back"
agent stop $H force_stop=true
tap_is "$RC" 0 "stop"
tap_like "$("$CTL" status 2> /dev/null)" "*: 0 jobs*" "the job is gone"
OCF_CHECK_LEVEL=10 agent monitor $H
tap_is "$RC" 7 "a probe at depth 10: not running"
tap_like "$("$CTL" status 2> /dev/null)" "*: 0 jobs*" "and it registered no job"
agent start $H health_check=false
tap_like "$("$CTL" status 2> /dev/null)" "*: 0 jobs*" "health_check=false: no job"
agent stop $H force_stop=true
unset INSTANCE

# ------------------------------------------------------------ TCP probe
# a domain whose init is a TCP listener (busybox nc, a new /bin/true for
# each connection) in this namespace's network, which an LXC domain with
# no interface of its own shares: loopback
PORT=$((20000 + $$ % 20000))
cat > "$work/vm4.xml" << XML
<domain type='lxc'>
  <name>vm4</name>
  <memory>65536</memory>
  <os><type>exe</type><init>/bin/busybox</init><initarg>nc</initarg>
  <initarg>-ll</initarg><initarg>-p</initarg><initarg>$PORT</initarg>
  <initarg>-e</initarg><initarg>/bin/true</initarg></os>
  <devices><console type='pty'/></devices>
</domain>
XML
INSTANCE=vm4
T="config=$work/vm4.xml health_check=false"
lvl() { # lvl LEVEL [PARAM=VALUE...]: a recurring monitor at that depth
    local l=$1
    shift
    OCF_CHECK_LEVEL=$l agent monitor $T CRM_meta_interval=10000 "$@"
}
agent start $T
tap_is "$RC" 0 "start of vm4, a TCP listener on port $PORT"
for _ in $(seq 1 50); do
    (exec 3<> "/dev/tcp/127.0.0.1/$PORT") 2> /dev/null && break
    sleep 0.1
done
(exec 3<> "/dev/tcp/127.0.0.1/$PORT") 2> /dev/null
tap_ok $? "it accepts connections on 127.0.0.1:$PORT"
lvl 20 probe_tcp="127.0.0.1:$PORT"
tap_is "$RC" 0 "monitor at depth 20: it connects to probe_tcp ($(reason))"
lvl 20 probe_tcp="[::1]:$PORT"
tap_is "$RC" 0 "the same over IPv6 ([::1]:$PORT) ($(reason))"
closed=$((PORT + 1))
t0=$EPOCHREALTIME
lvl 20 probe_tcp="127.0.0.1:$closed"
ms=$(vmagent_ms_since "$t0")
tap_is "$RC" 1 "a port nothing listens on: the depth-20 monitor fails"
tap_like "$(reason)" "*127.0.0.1:$closed*" "naming the address ($(reason))"
tap_cond "ms < 20000" "within the operation's timeout ($ms ms)"
lvl 10 probe_tcp="127.0.0.1:$closed"
tap_is "$RC" 0 "at depth 10 the port is not tried"
OCF_CHECK_LEVEL=20 agent monitor $T probe_tcp="127.0.0.1:$closed"
tap_is "$RC" 0 "nor in a probe"
lvl 20
tap_is "$RC" 0 "no probe_tcp: nothing to connect to"
agent stop $T force_stop=true
tap_is "$RC" 0 "vm4 stopped"
(exec 3<> "/dev/tcp/127.0.0.1/$PORT") 2> /dev/null
tap_is "$?" 1 "its port is closed now"
agent validate-all $T probe_tcp=localhost:80
tap_is "$RC" 6 "probe_tcp with a name, not an address: not configured"
tap_like "$(reason)" "*probe_tcp*" "naming it ($(reason))"
unset INSTANCE

# ------------------------------------------------------------ validation
agent validate-all
tap_is "$RC" 6 "validate-all without config or domain: not configured"
tap_like "$(reason)" "*config or domain*" "naming them"
# the migration parameters' syntax, at level 0 (no program, no file)
for bad in "migration_transport=carrier pigeon" "migration_transport=ssh://" \
    "migrateuri=tcp:%s:49152" "migrateuri=49152" "migrateuri=tcp:%n 1" \
    "remoteuri=node2" "remoteuri=qemu+ssh://%n/system extra" \
    "migration_network_suffix=-mig/x" "migration_user=a@b" \
    "migration_downtime=abc" "migration_speed=-1"; do
    agent validate-all domain=vm2 "$bad"
    tap_is "$RC" 6 "validate-all with $bad: not configured"
    tap_like "$(reason)" "*'${bad%%=*}'*" "naming it ($(reason))"
done
agent validate-all domain=vm2 migration_transport=tls migration_user=root \
    migrateuri=tcp:%n-mig:49152 remoteuri=qemu+tls://%n.example/system \
    migration_network_suffix=-mig.lab migration_downtime=300 migration_speed=500
tap_is "$RC" 0 "good migration parameters pass ($(reason))"
echo '<domain type="lxc"><memory>1</memory></domain>' > "$work/noname.xml"
agent start config="$work/noname.xml"
tap_is "$RC" 6 "a config without <name>: not configured"
tap_like "$(reason)" "*has no <name>*" "saying so"

tap_done
