#!/bin/bash
# vchad's colo job, run by the real vchad through vchactl against the
# machine's real QEMU (qemu-system-x86_64 -machine none, with a QMP socket
# for the job and one for this test): bad parameters refused; QEMU's
# COLO role and run state read; the x-checkpoint-delay of each policy set
# in QEMU (read back through the test's own QMP socket); checkpoints read
# from a log as QEMU writes it (colo_vm_state_change lines with
# -msg timestamp=on's ISO 8601 times) fed to the controller, whose hybrid
# turns periodic when they come fast, and QEMU told so; a QEMU that goes
# away reported as an error while the job goes on, and the delay set
# again in the QEMU that comes back, whose checkpoints are counted from
# none (not the old one's, nor lines of the old one read after); a
# connection lost to the same QEMU keeps its count; a read error on the
# log (tests/failread.so) loses no line read in part and no checkpoint
# begun; the figures published; removal.
# This QEMU is no COLO pair (the host's 7.2 deadlocks in COLO): the
# checkpoints are written by this test in QEMU's log format, one a tenth
# of a second; the lab's COLO scenarios run the job on a real pair.
set -u
. "$top_srcdir/tests/lib/tap.sh"
. "$top_srcdir/tests/lib/vchadtest.sh"
. "$top_srcdir/tests/lib/qmp.sh"

VCHAD=${VCHAD:?}
CTL=${VCHACTL:?}
FAILREAD_SO=${FAILREAD_SO:?}
[ -x "$VCHAD" ] && [ -x "$CTL" ] && [ -f "$FAILREAD_SO" ] ||
    tap_bail "build vchad, vchactl and tests/failread.so first"
QEMU=$(command -v qemu-system-x86_64) || tap_bail "qemu-system-x86_64 missing (qemu-system-x86)"

vchadtest_env

qemu_start() {
    rm -f "$work/job.qmp" "$work/t.qmp"
    "$QEMU" -machine none -S -nodefaults -display none -no-user-config \
        -qmp "unix:$work/job.qmp,server=on,wait=off" \
        -qmp "unix:$work/t.qmp,server=on,wait=off" \
        -D "$work/qemu.log" -msg timestamp=on \
        -daemonize -pidfile "$work/qemu.pid" 2> "$work/qemu.err"
}
qemu_stop() {
    local pid
    pid=$(cat "$work/qemu.pid" 2> /dev/null) || return 0
    kill -9 "$pid" 2> /dev/null
    for i in $(seq 50); do [ -e "/proc/$pid" ] || break; sleep 0.1; done
    rm -f "$work/qemu.pid"
}
cleanup() {
    qemu_stop
    vchadtest_stop
    rm -rf "$work"
}
trap cleanup EXIT

# qemu_delay: QEMU's x-checkpoint-delay, asked through the test's socket
qemu_delay() { qmp_get "$work/t.qmp" query-migrate-parameters x-checkpoint-delay; }
# checkpoints N RUN_MS PAUSE_MS FILE [SHIFT_S]: N checkpoints as QEMU
# logs them, now (or SHIFT_S seconds later: a clock QEMU read before it
# was set back)
checkpoints() {
    python3 - "$@" << 'PY'
import datetime, sys, time
n, run, pause, path = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
shift = datetime.timedelta(seconds=int(sys.argv[5]) if len(sys.argv) > 5 else 0)
def stamp():
    t = datetime.datetime.now(datetime.timezone.utc) + shift
    # QEMU 11 leaves the fraction out at a whole second
    return t.strftime("%Y-%m-%dT%H:%M:%S") + (t.strftime(".%f") if t.microsecond else "") + "Z"
with open(path, "a", buffering=1) as f:
    for _ in range(n):
        time.sleep(run / 1000)
        f.write("%s colo_vm_state_change Change 'run' => 'stop'\n" % stamp())
        time.sleep(pause / 1000)
        f.write("%s colo_vm_state_change Change 'stop' => 'run'\n" % stamp())
PY
}

# set_delay MS: another client of QEMU's sets x-checkpoint-delay
set_delay() {
    qmp_call "$work/t.qmp" migrate-set-parameters "{\"x-checkpoint-delay\": $1}" > /dev/null
}

# stamp: now as QEMU 11 logs it
stamp() { date -u +%Y-%m-%dT%H:%M:%S.%6NZ; }
# log_fails on|off: reads of the log fail (EIO) or not (tests/failread.c)
log_fails() {
    if [ "$1" = on ]; then
        readlink -f "$work/trace.log" > "$work/failread"
    else
        rm -f "$work/failread"
    fi
}

wait_delay() { # wait_delay MS: 0 once QEMU's x-checkpoint-delay is MS (10 s)
    local i
    for ((i = 0; i < 100; i++)); do
        [ "$(qemu_delay 2> /dev/null)" = "$1" ] && return 0
        sleep 0.1
    done
    return 1
}

LD_PRELOAD=$FAILREAD_SO VCHA_TEST_FAILREAD=$work/failread \
    ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0 \
    "$CTL" -t 20 start > /dev/null 2>&1
tap_ok $? "vchad starts"

# --- bad parameters
out=$("$CTL" add colo bad log=/tmp/x.log 2>&1)
tap_like "$out" "*qmp*" "no qmp: refused, naming it"
out=$("$CTL" add colo bad qmp=q.sock log=/tmp/x.log 2>&1)
tap_like "$out" "*qmp*" "a relative qmp path: refused"
out=$("$CTL" add colo bad qmp=/q.sock log=/x.log policy=sometimes 2>&1)
tap_like "$out" "*policy*" "an unknown policy: refused"
out=$("$CTL" add colo bad qmp=/q.sock log=/x.log period_ms=20000 colo_delay_ms=10000 2>&1)
tap_like "$out" "*period_ms*colo_delay_ms*" "a period not below the colo delay: refused"
tap_like "$("$CTL" status 2> /dev/null)" "*0 jobs*" "none of them taken"

qemu_start
tap_ok $? "QEMU $("$QEMU" --version | head -1 | awk '{ print $4 }') starts with two QMP sockets"
: > "$work/trace.log"

# --- static periodic: the period goes to QEMU
"$CTL" add colo c1 qmp="$work/job.qmp" log="$work/trace.log" policy=periodic > /dev/null
tap_ok $? "add a colo job, policy periodic"
wait_fig c1 '[ "$v" = none ]' fig.role
tap_ok $? "QEMU's COLO role read: none"
tap_is "$(health_key c1 fig.status)" prelaunch "its run state: prelaunch"
wait_delay 250
tap_ok $? "x-checkpoint-delay 250 ms set in QEMU (periodic mode's period)"
wait_fig c1 '[ "$v" = 250 ]' fig.delay_ms
tap_ok $? "and reported so"
tap_is "$(health_key c1 state)" ok "the job's reports succeed"
# a report a second, its node attributes every attr_interval (30 s)
sleep 3.5
tap_is "$(grep -c -- "-n vcha-c1-colo-role -U" "$work/attrd.log")" 1 \
    "its node attributes set once in its first 3 s of reports (attr_interval 30 s)"

# --- static colo, with a delay of its own
"$CTL" add colo c1 qmp="$work/job.qmp" log="$work/trace.log" policy=colo \
    colo_delay_ms=7000 > /dev/null
wait_delay 7000
tap_ok $? "new parameters, policy colo: x-checkpoint-delay 7000 ms in QEMU"

# --- the hybrid on checkpoints that come fast
"$CTL" add colo c1 qmp="$work/job.qmp" log="$work/trace.log" policy=hybrid \
    attr_interval=1s > /dev/null
wait_fig c1 '[ "$v" = hybrid ]' fig.policy
wait_delay 10000
tap_ok $? "policy hybrid: it begins in colo mode (10000 ms)"
tap_is "$(health_key c1 fig.mode)" colo "mode colo"
sleep 1.5 # the job has opened the log (from its end)
checkpoints 30 50 50 "$work/trace.log"
wait_fig c1 '[ "$v" = periodic ]' fig.mode
tap_ok $? "30 checkpoints, half the time paused: the hybrid turns periodic"
wait_delay 250
tap_ok $? "and QEMU's x-checkpoint-delay is 250 ms"
n=$(health_key c1 fig.checkpoints)
tap_cond "${n:-0} >= 20 && ${n:-0} <= 30" "the checkpoints counted from the log ($n of 30)"
d=$(health_key c1 fig.downtime_pct)
tap_cond "${d%.*} >= 5 && ${d%.*} <= 60" "downtime from their pauses ($d%)"
last=$(health_key c1 fig.last_checkpoint)
tap_cond "${last:-0} >= $(($(date +%s) - 10)) && ${last:-0} <= $(date +%s)" \
    "the last one's time ($last)"
tap_is "$(health_key c1 fig.refused)" 0 "none refused"
tap_ok "$(grep -q -- "-n vcha-c1-colo-mode -U periodic" "$work/attrd.log"; echo $?)" \
    "the mode is published as node attribute vcha-c1-colo-mode"
tap_ok "$(grep -q -- "-n vcha-c1-colo-role -U none" "$work/attrd.log"; echo $?)" \
    "the role as vcha-c1-colo-role"
tap_cond "$(grep -c -- "-n vcha-c1-colo-cps -U" "$work/attrd.log") >= 4" \
    "with attr_interval=1s, set again and again"

# --- another client changes the delay: set back
set_delay 3333
tap_ok $? "another QMP client sets x-checkpoint-delay 3333 ms"
wait_delay 250
tap_ok $? "the job sets it back to the mode's 250 ms"

# --- QEMU goes away, and comes back
qemu_stop
wait_fig c1 '[ "$v" = failing ]' state
tap_ok $? "QEMU gone: the reports fail"
tap_like "$(health_key c1 last_error)" "*QMP*job.qmp*" "naming its QMP socket"
r1=$(health_key c1 failures)
sleep 2.5
tap_cond "$(health_key c1 failures) >= ${r1:-0} + 2" "and a report still comes every second"
qemu_start
wait_fig c1 '[ "$v" = ok ]' state
tap_ok $? "QEMU back: the reports succeed again"
wait_delay 10000
tap_ok $? "and the new QEMU gets a new controller: colo mode's delay (10000 ms)"
tap_is "$(health_key c1 fig.checkpoints)" 0 \
    "the new QEMU's checkpoints counted from none, not the old one's"
tap_is "$(health_key c1 fig.last_checkpoint)" 0 "and no last checkpoint yet"

# --- a wall clock set back: checkpoints logged before seem to end later
# (those read in one go end at the same now: all but the first refused)
n0=$(health_key c1 fig.checkpoints)
r0=$(health_key c1 fig.refused)
checkpoints 5 20 20 "$work/trace.log" 3600
sleep 1
checkpoints 5 20 20 "$work/trace.log"
for ((i = 0; i < 100; i++)); do
    seen=$(($(health_key c1 fig.checkpoints) - n0 + $(health_key c1 fig.refused) - r0))
    [ "$seen" -ge 10 ] && break
    sleep 0.1
done
tap_is "$seen" 10 "5 checkpoints logged an hour ahead, then 5 now: 10 seen"
r=$(($(health_key c1 fig.refused) - r0))
tap_cond "$r <= 4" "the 5 logged now counted, not refused as older than the first ($r refused)"
last=$(health_key c1 fig.last_checkpoint)
tap_cond "${last:-0} <= $(date +%s)" "the last checkpoint's time not in the future ($last)"

# --- the log moved away and a new one begun at once: the old one's end read
n0=$(health_key c1 fig.checkpoints)
python3 - "$work/trace.log" << 'PY'
import datetime, os, sys, time
path = sys.argv[1]
def line(state):
    t = datetime.datetime.now(datetime.timezone.utc)
    return "%s.%06dZ colo_vm_state_change Change %s\n" % (
        t.strftime("%Y-%m-%dT%H:%M:%S"), t.microsecond, state)
def checkpoint(f):
    f.write(line("'run' => 'stop'")); time.sleep(0.002)
    f.write(line("'stop' => 'run'")); time.sleep(0.002)
time.sleep(0.5)  # the job has read the log to here
old = open(path, "a", buffering=1)
os.rename(path, path + ".1")
for _ in range(3):
    checkpoint(old)  # written after the move, before the job looks again
new = open(path, "a", buffering=1)
for _ in range(2):
    checkpoint(new)
PY
wait_fig c1 '[ "${v:-0}" -ge $((n0 + 5)) ]' fig.checkpoints
tap_ok $? "3 checkpoints at the moved log's end, 2 in the new one: all 5 counted"
tap_is "$(health_key c1 fig.checkpoints)" $((n0 + 5)) "and none twice"

# --- a connection lost to the same QEMU (its commands outlive
# qmp_timeout while it is stopped): its checkpoints still counted
n0=$(($(health_key c1 fig.checkpoints) + 2))
checkpoints 2 20 20 "$work/trace.log"
wait_fig c1 '[ "${v:-0}" -ge $n0 ]' fig.checkpoints
kill -STOP "$(cat "$work/qemu.pid")"
wait_fig c1 '[ "$v" = failing ]' state
tap_ok $? "QEMU stopped: the reports fail"
kill -CONT "$(cat "$work/qemu.pid")"
wait_fig c1 '[ "$v" = ok ]' state
tap_ok $? "QEMU running again: the reports succeed"
tap_is "$(health_key c1 fig.checkpoints)" "$n0" \
    "the same QEMU found again: its $n0 checkpoints kept"

# --- a read error on the log: the checkpoint begun and the line read in
# part before it kept, read on after it
n0=$(health_key c1 fig.checkpoints)
r0=$(health_key c1 fig.refused)
echo "$(stamp) colo_vm_state_change Change 'run' => 'stop'" >> "$work/trace.log"
sleep 0.5 # read
log_fails on
wait_fig c1 '[ "$v" = failing ]' state
tap_ok $? "the log cannot be read: the reports fail"
tap_like "$(health_key c1 last_error)" "*trace.log*" "naming the log"
log_fails off
echo "$(stamp) colo_vm_state_change Change 'stop' => 'run'" >> "$work/trace.log"
wait_fig c1 '[ "$v" = ok ]' state
tap_ok $? "read again: the reports succeed"
tap_is "$(health_key c1 fig.checkpoints)" $((n0 + 1)) \
    "a checkpoint whose stop was read before the error, its end after: counted"
stop=$(stamp)
sleep 0.02
line="$(stamp) colo_vm_state_change Change 'stop' => 'run'"
printf "%s colo_vm_state_change Change 'run' => 'stop'\n%s" "$stop" \
    "${line:0:2}" >> "$work/trace.log"
sleep 0.5 # read, the line begun too
log_fails on
wait_fig c1 '[ "$v" = failing ]' state
log_fails off
echo "${line:2}" >> "$work/trace.log"
wait_fig c1 '[ "$v" = ok ]' state
tap_is "$(health_key c1 fig.checkpoints)" $((n0 + 2)) \
    "a line cut by the error read whole: its checkpoint counted, once"
tap_is "$(health_key c1 fig.refused)" "$r0" "none refused"

# --- a new QEMU while the log cannot be read: the old one's lines read
# after it came are not the new one's
checkpoints 2 20 20 "$work/trace.log"
wait_fig c1 '[ "${v:-0}" -ge $((n0 + 4)) ]' fig.checkpoints
log_fails on
checkpoints 3 20 20 "$work/trace.log" # the old QEMU's last, not read yet
qemu_stop
qemu_start
wait_delay 10000
tap_ok $? "a new QEMU while the log cannot be read: the job reaches it"
log_fails off
echo "qemu-system-x86_64: a message" >> "$work/trace.log"
wait_fig c1 '[ "$v" = ok ]' state
tap_ok $? "the log read again: the reports succeed"
tap_is "$(health_key c1 fig.checkpoints)" 0 \
    "the old QEMU's 3 checkpoints logged before the new one came: not counted"
tap_is "$(health_key c1 fig.refused)" 0 "nor read as the new one's (none refused)"
checkpoints 2 20 20 "$work/trace.log"
wait_fig c1 '[ "${v:-0}" -ge 2 ]' fig.checkpoints
sleep 0.3
tap_is "$(health_key c1 fig.checkpoints)" 2 "the new one's 2 counted"

# --- removal
"$CTL" remove c1 > /dev/null
tap_ok $? "remove the job"
for ((i = 0; i < 100; i++)); do
    grep -qx -- "-n vcha-c1-colo-mode -D" "$work/attrd.log" && break
    sleep 0.1
done
grep -qx -- "-n vcha-c1-colo-mode -D" "$work/attrd.log"
tap_ok $? "its attributes are deleted"
tap_like "$("$CTL" status 2> /dev/null)" "*0 jobs*" "no job left"

tap_done
