#!/bin/bash
# vchad's vmwatch job, run by the real vchad through vchactl against
# libvirt's test driver (a real libvirt with no daemon): a running domain
# judged normal with its figures, one paused (by hand) and one crashed
# judged so, the verdict published as node attributes, a domain that does
# not exist reported as an error while the job goes on reporting, bad
# parameters refused, removal.  The test driver's own statistics are
# synthetic: its bulk statistics hold the state only, its CPU time
# (virDomainGetInfo) is the wall clock, it counts no I/O, and every
# connection gets its own copy of the domains, so nothing from outside can
# stop a domain the job watches: hung and spinning are the classifier's
# unit tests' (libcommon/tests/vmhealth) and tests/vm/agent-lxc.sh's.
set -u
. "$top_srcdir/tests/lib/tap.sh"
. "$top_srcdir/tests/lib/vchadtest.sh"

VCHAD=${VCHAD:?}
CTL=${VCHACTL:?}
[ -x "$VCHAD" ] && [ -x "$CTL" ] || tap_bail "build vchad and vchactl first"

vchadtest_env

cleanup() {
    vchadtest_stop
    rm -rf "$work"
}
trap cleanup EXIT

# a node of the test driver with a paused and a crashed domain
cat > "$work/node.xml" << 'XML'
<node>
  <domain type='test' xmlns:test='http://libvirt.org/schemas/domain/test/1.0'>
    <name>held</name><memory>65536</memory><vcpu>1</vcpu>
    <os><type>hvm</type></os><test:runstate>3</test:runstate>
  </domain>
  <domain type='test' xmlns:test='http://libvirt.org/schemas/domain/test/1.0'>
    <name>dead</name><memory>65536</memory><vcpu>1</vcpu>
    <os><type>hvm</type></os><test:runstate>6</test:runstate>
  </domain>
</node>
XML

"$CTL" -t 20 start > /dev/null 2>&1
tap_ok $? "vchad starts"

# --- bad parameters
out=$("$CTL" add vmwatch bad uri=test:///default 2>&1)
tap_like "$out" "*domain*" "no domain: refused, naming it"
out=$("$CTL" add vmwatch bad uri=test:///default domain=test spin_cpu_pct=120 2>&1)
tap_like "$out" "*spin_cpu_pct*" "a percentage above 100: refused"
out=$("$CTL" add vmwatch bad uri=test:///default domain=test hung_after=2s \
    interval_ms=3000 2>&1)
tap_like "$out" "*hung_after*" "sampling slower than hung_after: refused"

# --- a running domain
"$CTL" add vmwatch vm1 uri=test:///default domain=test > /dev/null
tap_ok $? "add a vmwatch job on test:///default's running domain"
wait_fig vm1 '[ "$v" = normal ]' fig.verdict
tap_ok $? "judged normal"
wait_fig vm1 '((v >= 3))' fig.samples
tap_ok $? "a reading a second"
cpu=$(health_key vm1 fig.cpu_pct)
# the driver's CPU time is the wall clock: one CPU fully busy
tap_cond "${cpu%.*} >= 90 && ${cpu%.*} <= 110" "cpu_pct from the driver's CPU time ($cpu)"
tap_is "$(health_key vm1 fig.vcpus)" 2 "its 2 vCPUs"
tap_is "$(health_key vm1 fig.source)" info \
    "read through virDomainGetInfo: the driver's bulk statistics hold the state only"
tap_is "$(health_key vm1 fig.state)" 1 "state running"
tap_is "$(health_key vm1 state)" ok "the job's reports succeed"
since=$(health_key vm1 fig.since)
tap_cond "${since:-0} > 1700000000 && ${since:-0} <= $(date +%s)" \
    "since: when the verdict began, in seconds since the epoch"
sleep 1.2
tap_is "$(health_key vm1 fig.since)" "$since" "and it holds still while the verdict does"
tap_ok "$(grep -q "vcha-vm1-health.*normal" "$work/attrd.log"; echo $?)" \
    "the verdict is published as node attribute vcha-vm1-health"
tap_ok "$(grep -q "vcha-vm1-health-since.*$since" "$work/attrd.log"; echo $?)" \
    "and when it began as vcha-vm1-health-since"
status=$("$CTL" status 2> /dev/null)
tap_like "$status" "*vm1*vmwatch*verdict=normal*cpu_pct=*" \
    "vchactl status shows the job and its figures"

# --- paused and crashed domains
"$CTL" add vmwatch vm2 uri="test://$work/node.xml" domain=held > /dev/null
"$CTL" add vmwatch vm3 uri="test://$work/node.xml" domain=dead > /dev/null
wait_fig vm2 '[ "$v" = paused ]' fig.verdict
tap_ok $? "a domain paused by hand: paused"
wait_fig vm3 '[ "$v" = panicked ]' fig.verdict
tap_ok $? "a crashed domain: panicked"
wait_fig vm2 '((v >= 2000))' fig.since_ms
tap_ok $? "since_ms grows while the verdict holds"

# --- a domain that does not exist
"$CTL" add vmwatch vm4 uri=test:///default domain=nosuch > /dev/null
wait_fig vm4 '[ "$v" = failing ]' state
tap_ok $? "no such domain: the job's reports fail"
tap_like "$(health_key vm4 last_error)" "*nosuch*" "naming the domain"
tap_is "$(health_key vm4 fig.verdict)" unknown "verdict unknown"
r1=$(health_key vm4 failures)
sleep 1.5
tap_cond "$(health_key vm4 failures) > ${r1:-0}" "and it goes on reporting"

# --- a libvirtd that accepts and never answers
/usr/bin/python3 -c 'import socket, sys, time
s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen(8)
held = []
while True:
    held.append(s.accept()[0])' "$work/hung.sock" &
hung_pid=$!
for i in $(seq 50); do [ -S "$work/hung.sock" ] && break; sleep 0.1; done
"$CTL" add vmwatch vm5 uri="qemu+unix:///system?socket=$work/hung.sock" \
    domain=test stats_timeout=2s > /dev/null
wait_fig vm5 '[ "$v" = failing ]' state
tap_ok $? "a libvirtd that hangs: the reports fail"
tap_like "$(health_key vm5 last_error)" "*gave no statistics*" "saying libvirt gave no answer"
r1=$(health_key vm5 failures)
sleep 2.5
r2=$(health_key vm5 failures)
tap_cond "${r2:-0} >= ${r1:-0} + 2" "and a report still comes every second ($r1, then $r2)"
tap_is "$(health_key vm5 state)" failing "the job is not lost (no restart)"
kill "$hung_pid" 2> /dev/null
wait "$hung_pid" 2> /dev/null
"$CTL" remove vm5 > /dev/null

# --- removal
attrs_deleted() { # 0 once both attributes of vm1 were deleted (10 s)
    local i
    for ((i = 0; i < 100; i++)); do
        grep -qx -- "-n vcha-vm1-health -D" "$work/attrd.log" &&
            grep -qx -- "-n vcha-vm1-health-since -D" "$work/attrd.log" &&
            return 0
        sleep 0.1
    done
    return 1
}
grep -qx -- "-n vcha-vm1-health -U normal" "$work/attrd.log"
tap_ok $? "before the removal: vcha-vm1-health was set"
grep -q -- "-n vcha-vm1-health.* -D" "$work/attrd.log"
tap_is "$?" 1 "and not deleted"
"$CTL" remove vm1 > /dev/null
tap_ok $? "remove the job"
[ -z "$(health_key vm1 id)" ]
tap_ok $? "it is gone"
attrs_deleted
tap_ok $? "its attributes vcha-vm1-health and vcha-vm1-health-since are deleted"
"$CTL" remove vm2 > /dev/null
"$CTL" remove vm3 > /dev/null
"$CTL" remove vm4 > /dev/null
tap_like "$("$CTL" status 2> /dev/null)" "*0 jobs*" "no job left"

tap_done
