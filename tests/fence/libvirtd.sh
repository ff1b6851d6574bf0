#!/bin/bash
# fence_vcha_libvirt against a real libvirtd with a real LXC domain (whose
# init is a process of this machine): off, on, reboot and status end to end,
# each checked independently (virsh, and whether the domain's processes
# exist), a killed agent whose worker must not power the domain afterwards,
# and a stalled daemon that must not stall the agent.
set -u
. "$top_srcdir/tests/lib/tap.sh"
. "$top_srcdir/tests/lib/libvirtd.sh"

libvirtd_lxc_enter "$@"

FENCE=$top_builddir/stonith/fence_vcha_libvirt
work=$(mktemp -d)
trap 'libvirtd_stop; rm -rf "$work"' EXIT
libvirtd_start "$work/libvirtd" ||
    { sed 's/^/#  /' "$work/libvirtd/libvirtd.out"; tap_bail "libvirtd did not start"; }

# The domain's init: a sleep with a marker argument nothing else uses.
MARK=$((86400 + $$))
cat > "$work/vm1.xml" <<XML
<domain type='lxc'>
  <name>vm1</name>
  <memory>65536</memory>
  <os><type>exe</type><init>/bin/sleep</init><initarg>$MARK</initarg></os>
  <devices><console type='pty'/></devices>
</domain>
XML
virsh -q -c lxc:/// define "$work/vm1.xml" > /dev/null
virsh -q -c lxc:/// start vm1 > /dev/null
tap_is "$(virsh -c lxc:/// domstate vm1)" running "the LXC domain runs"

alive() { pgrep -f "^/bin/sleep $MARK\$" > /dev/null; }
# started: alive within 5 s; libvirt reports the domain running a moment
# before its init has exec'd, longer on a loaded machine
started() {
    for _ in $(seq 1 50); do
        alive && return 0
        sleep 0.1
    done
    return 1
}
state() { virsh -c lxc:/// domstate vm1 2> /dev/null; }
fence() { "$FENCE" --uri lxc:/// -n vm1 "$@" > "$work/out" 2>&1; RC=$?; }

started
tap_is "$?" 0 "its init process exists"
fence -o status
tap_is "$RC" 0 "status: on"
fence -o off
tap_is "$RC" 0 "off"
tap_is "$(state)" "shut off" "virsh says shut off"
alive
tap_is "$?" 1 "every process of the domain is gone"
fence -o status
tap_is "$RC" 2 "status: off"
fence -o off
tap_is "$RC" 0 "off again: still success"
fence -o on
tap_is "$RC" 0 "on"
tap_is "$(state)" running "virsh says running"
started
tap_is "$?" 0 "the domain's init runs again"
old=$(pgrep -f "^/bin/sleep $MARK\$")
fence -o reboot
tap_is "$RC" 0 "reboot"
# libvirt reports the domain started a moment before its init has exec'd
for _ in $(seq 1 50); do
    new=$(pgrep -f "^/bin/sleep $MARK\$")
    [ -n "$new" ] && [ "$new" != "$old" ] && break
    sleep 0.1
done
tap_ok $([ -n "$new" ] && [ "$new" != "$old" ]; echo $?) \
    "reboot replaced the domain's init ($old -> $new)"
printf 'action=off\nuri=lxc:///\nplug=vm1\n' | "$FENCE" > /dev/null 2>&1
tap_is "$?" 0 "off through stdin, as Pacemaker's fencer calls it"
tap_is "$(state)" "shut off" "shut off"
fence -o list-status
tap_like "$(cat "$work/out")" "*vm1,*,off*" "list-status shows vm1 off"
fence -o reboot --method=cycle
tap_is "$RC" 0 "reboot with method=cycle of vm1 while it is off"
tap_is "$(state)" running "vm1 was started"

# The fencer may kill the agent at a timeout shorter than ours; from then
# on nothing may power vm1.  A reboot that has destroyed vm1 and waits
# (power_wait) before starting it again is killed.
"$FENCE" --uri lxc:/// -n vm1 -o reboot --power-wait=3 > /dev/null 2>&1 &
agent=$!
for _ in $(seq 1 100); do
    [ "$(state)" = "shut off" ] && break
    sleep 0.1
done
{ kill -KILL "$agent" && wait "$agent"; } 2> /dev/null # no "Killed" line
tap_is "$(state)" "shut off" "the reboot destroyed vm1, then the agent was killed"
sleep 6 # past power_wait: a worker left behind would start vm1 by now
tap_is "$(state)" "shut off" "nothing started vm1 after the agent was killed"
alive
tap_is "$?" 1 "no process of vm1 runs"

# A stalled daemon: the agent gives up at power_timeout
kill -STOP "$LIBVIRTD_PID"
t0=$EPOCHREALTIME
fence -o status --power-timeout=2
ms=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%d", (b - a) * 1000 }')
kill -CONT "$LIBVIRTD_PID"
tap_is "$RC" 1 "status with libvirtd stopped (SIGSTOP) fails"
tap_like "$(cat "$work/out")" "*no answer within 2000 ms (power_timeout)*" \
    "at power_timeout, saying so"
# only a hang would take 30 s; giving up before power_timeout is a bug
tap_cond "ms >= 2000 && ms < 30000" "not earlier, not hanging ($ms ms)"
fence -o status
tap_is "$RC" 2 "and works again once libvirtd runs"

tap_done
