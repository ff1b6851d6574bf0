#!/bin/bash
# vchad as agents meet it, through vchactl: starting it (also twice at
# once), jobs that succeed, fail, hang past their timeout or crash, reload,
# removal, node attributes, the daemon dying by SIGKILL or stopping on
# SIGTERM, and a resident job that outlives the daemon.  The daemon is tests/vchad-testd (vchad with the job types of
# tests/test_types.c) on a socket in a scratch directory.
set -u
. "$top_srcdir/tests/lib/tap.sh"

VCHAD=${VCHAD_TESTD:?}
CTL=${VCHACTL:?}
[ -x "$VCHAD" ] && [ -x "$CTL" ] || tap_bail "build vchad-testd and vchactl first"

work=$(mktemp -d)
SOCK=$work/run/vchad.sock
export VCHA_SOCKET=$SOCK VCHA_VCHAD=$VCHAD
export HA_LOGFACILITY=none HA_LOGFILE=$work/vchad.log HA_debug=1
unset HA_LOGTAG

# a fake attrd_updater that records its arguments
mkdir -p "$work/bin"
printf '#!/bin/sh\necho "$*" >> %s/attrd.log\n' "$work" > "$work/bin/attrd_updater"
chmod 755 "$work/bin/attrd_updater"
export PATH=$work/bin:$PATH

daemon_pid() { "$CTL" ping 2>/dev/null | sed -n 's/.*(pid \([0-9]*\),.*/\1/p'; }
alive() { [ -n "$1" ] && [ -e "/proc/$1" ] && [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" != Z ]; }
wait_gone() { # wait_gone PID: 0 once it is gone (10 s at most)
    local i
    for ((i = 0; i < 1000; i++)); do alive "$1" || return 0; sleep 0.01; done
    return 1
}
# processes whose command line names our socket (the daemon, its workers)
on_socket() {
    local p n=0
    for p in /proc/[0-9]*; do
        [[ $(tr '\0' ' ' 2>/dev/null < "$p/cmdline") == *"-s $SOCK"* ]] &&
            alive "${p#/proc/}" && n=$((n + 1))
    done
    echo $n
}
children() { ps -o pid= --ppid "$1" | tr -d ' '; }
ctl() { # ctl ARGS...: sets OUT, ERR, RC
    local errf=$work/ctl.err
    OUT=$("$CTL" "$@" 2>"$errf")
    RC=$?
    ERR=$(cat "$errf")
}
health_key() { "$CTL" health "$1" 2>/dev/null | sed -n "s/^$2=//p"; }

cleanup() {
    local pid
    for pid in ${rpid:-} ${rchild:-} ${kpid:-} ${r1pid:-}; do kill -KILL "$pid" 2> /dev/null; done
    pid=$(cat "$SOCK.lock" 2>/dev/null)
    [ -n "$pid" ] && alive "$pid" && kill -TERM "$pid" && wait_gone "$pid"
    [ -n "${FG_PID:-}" ] && kill -TERM "$FG_PID" 2>/dev/null
    if [ "$tap_failed" -gt 0 ] && [ -f "$work/vchad.log" ]; then
        tap_diag "vchad.log:" && sed 's/^/#   /' "$work/vchad.log" | tail -40
    fi
    rm -rf "$work"
}
trap cleanup EXIT

# --- before it runs
ctl ping
tap_is "$RC" 3 "ping without a daemon: exit 3"
tap_like "$ERR" "*vchad is not running*" "and says so"
ctl status
tap_is "$RC" 3 "status without a daemon: exit 3"
ctl frobnicate
tap_is "$RC" 2 "an unknown command: exit 2"
ctl health
tap_is "$RC" 2 "health without an id: exit 2"

# --- two agents start it at the same time
"$CTL" -t 20 start > "$work/start1" 2>&1 &
s1=$!
"$CTL" -t 20 start > "$work/start2" 2>&1 &
s2=$!
"$CTL" -t 20 start > "$work/start3" 2>&1 &
s3=$!
wait $s1; r1=$?
wait $s2; r2=$?
wait $s3; r3=$?
tap_is "$r1$r2$r3" 000 "three concurrent starts all succeed"
tap_is "$(on_socket)" 1 "and leave exactly one daemon"
pid=$(daemon_pid)
tap_cond "${pid:-0} > 0" "ping names the daemon's pid"
tap_is "$(cat "$SOCK.lock")" "$pid" "the lock file next to the socket holds it"
tap_is "$(stat -c %a "$SOCK")" 600 "the socket has mode 600"
tap_cond "$(ps -o sid= -p "$pid") != $(ps -o sid= -p $$)" "it has a session of its own"
tap_is "$(ps -o tty= -p "$pid" | tr -d ' ')" "?" "and no terminal"
tap_is "$(readlink "/proc/$pid/cwd")" / "its working directory is /"
ctl start
tap_is "$RC" 0 "start again: fine"
tap_is "$(daemon_pid)" "$pid" "the same daemon"
"$VCHAD" -f -s "$SOCK"
tap_is "$?" 0 "another vchad on the same socket exits 0 at once"

# --- jobs
ctl status
tap_is "$RC" 0 "status with no jobs"
tap_like "$OUT" "*: 0 jobs" "says there are none"
ctl add test web interval_ms=200 echo=hello attr=vcha-web-echo
tap_is "$OUT" "web added" "add a job that succeeds"
ctl add test web interval_ms=200 echo=hello attr=vcha-web-echo
tap_is "$OUT" "web unchanged" "adding it again changes nothing"
ctl add test web interval_ms=200 echo=hello2 attr=vcha-web-echo
tap_is "$OUT" "web updated" "adding it with other parameters updates it"
ctl add other web
tap_is "$RC" 1 "the same id with another type is refused"
tap_like "$ERR" "*exists with type test*" "and says why"
ctl add test bad bad=1
tap_is "$RC" 1 "parameters the type refuses"
tap_like "$ERR" "*bad is not allowed*" "with the type's reason"
ctl add nosuch x
tap_like "$ERR" "*unknown job type 'nosuch'*" "an unknown type"
ctl add test x novalue
tap_is "$RC" 2 "a parameter without a value: exit 2"
ctl add test later interval_ms=200 first_run_ms=1500
sleep 0.6
tap_is "$(health_key later runs)" 0 "first_run_ms: no run before it"
for _ in $(seq 1 50); do
    [ "$(health_key later runs)" -ge 1 ] 2> /dev/null && break
    sleep 0.1
done
tap_cond "$(health_key later runs) >= 1" "and runs after it"
ctl remove later
ctl add test bad2 first_run_ms=-1
tap_is "$RC" 1 "a negative first_run_ms is refused"
ctl add test pct interval_ms=0 "echo=100% = all"
ctl run pct
tap_like "$OUT" "*fig.echo=100%25 %3D all*" "values go as typed and print escaped"
ctl remove pct
ctl add test db interval_ms=0 exit=28 "error=disk full"
ctl add test hang interval_ms=0 sleep_ms=100000 timeout_ms=300
ctl add test crash interval_ms=0 crash=6

ctl run web
tap_is "$RC" 0 "run a job now"
tap_like "$OUT" "*fig.echo=hello2*" "the run's figures"
ctl health web
tap_is "$RC" 0 "health of a good job: exit 0"
tap_like "$OUT" "*state=ok*" "state ok"
ctl run db
tap_is "$RC" 1 "a failing run: exit 1"
tap_like "$ERR" "*disk full*" "with the job's error"
ctl health db
tap_is "$RC" 1 "health of a failing job: exit 1"
tap_is "$(health_key db last_exit)" 28 "its exit status is the job's errno"
t0=$(date +%s%N)
ctl run hang
t1=$(date +%s%N)
tap_is "$RC" 1 "a run that hangs fails"
tap_like "$ERR" "*timed out after 300 ms*" "at its timeout"
tap_cond "(t1 - t0) / 1000000 < 3000" "promptly"
tap_is "$(health_key hang state)" failing "and the job is failing"
ctl run crash
tap_like "$ERR" "*killed by signal 6*" "a worker that crashes is reported"
tap_is "$(health_key crash running)" 0 "and nothing of it runs"
ctl health nosuch
tap_is "$RC" 1 "health of an unknown job: exit 1"
tap_like "$ERR" "*no job nosuch*" "no such job"

sleep 0.5
ctl status
tap_is "$RC" 0 "status"
tap_like "$OUT" "*: 4 jobs*" "counts the jobs"
tap_like "$(grep '^web ' <<<"$OUT")" "web *test *ok*s ago*echo=hello2*" \
    "a row per job: id, type, state, last success, figures"
tap_like "$(grep '^  hang:' <<<"$OUT")" "*timed out after 300 ms" \
    "a failing job's error under it"
runs=$(health_key web runs)
tap_cond "$runs >= 3" "the interval job keeps running ($runs runs)"
tap_like "$(cat "$work/attrd.log")" "*-n vcha-web-echo -U hello2*" \
    "its figure is published as a node attribute"

# --- removal
ctl remove web
tap_is "$RC" 0 "remove a job"
ctl remove web
tap_is "$RC" 0 "remove it again: fine"
ctl health web
tap_like "$ERR" "*no job web*" "it is gone"
sleep 0.3
tap_like "$(tail -1 "$work/attrd.log")" "-n vcha-web-echo -D" \
    "its node attribute is deleted"

# --- a run's programs do not outlive it: a slow program (as lxc-checkpoint
# on a hung store) in a process group of its own, which starts another
slow=$work/slow
printf '#!/bin/sh\necho $$ > %s/slow.pid\nsleep 1000 &\necho $! > %s/slow2.pid\nexec sleep 1000\n' \
    "$work" "$work" > "$slow"
chmod 755 "$slow"
wait_file() { # wait_file PATH: its content once it has some (30 s at most)
    local i
    for ((i = 0; i < 3000; i++)); do [ -s "$1" ] && break; sleep 0.01; done
    cat "$1" 2> /dev/null
}
slow_started() { # slow_started: the pids of the program and its child
    rm -f "$work/slow.pid" "$work/slow2.pid"
    prog=$(wait_file "$work/slow.pid")
    prog2=$(wait_file "$work/slow2.pid")
    [ -n "$prog" ] && [ -n "$prog2" ] && alive "$prog" && alive "$prog2"
}
rm -f "$work/slow.pid" "$work/slow2.pid" "$work/onstop"
ctl add test slow interval_ms=0 prog="$slow" onstop="$work/onstop"
ctl run slow &
slow_started
tap_ok $? "a run's program and its child are running"
"$CTL" remove slow grace_ms=500 > /dev/null 2>&1
tap_ok "$( ! alive "$prog" && ! alive "$prog2"; echo $?)" \
    "job-remove with a grace period: both are gone when it returns"
tap_is "$(cat "$work/onstop" 2> /dev/null)" "cleaned up" \
    "the worker was told to stop and cleaned up after its program"
wait
ctl add test other-job interval_ms=0
ctl remove slow id=other-job
tap_is "$RC" 2 "remove takes grace_ms only: another key is refused"
ctl health other-job
tap_is "$RC" 0 "and removes nothing"
ctl remove other-job

# --- the daemon dies
ctl add test slow interval_ms=0 prog="$slow"
ctl run slow &
slow_started
tap_ok $? "a run's program is running"
ctl add test web sleep_ms=100000
sleep 0.3
worker=$(children "$pid" | head -1)
tap_cond "${worker:-0} > 0" "a run is under way"
kill -KILL "$pid"
wait_gone "$pid"
ctl health web
tap_is "$RC" 3 "after SIGKILL: health says the daemon is not running"
tap_ok "$([ -S "$SOCK" ]; echo $?)" "its socket file is left behind"
wait_gone "$worker"
tap_ok $? "the worker of the dead daemon is gone too"
wait_gone "$prog" && wait_gone "$prog2"
tap_ok $? "and so are the programs of its runs"
wait
ctl start
tap_is "$RC" 0 "start replaces the stale socket"
pid2=$(daemon_pid)
tap_cond "${pid2:-0} > 0 && pid2 != pid" "a new daemon"
ctl health web
tap_is "$RC" 1 "its jobs are gone: the monitor would fail"
tap_like "$ERR" "*no job web*" "unknown job"

# --- a resident job outlives the daemon and the next one adopts it
wait_health() { # wait_health ID KEY VALUE: 0 once health says so (10 s)
    local i
    for ((i = 0; i < 1000; i++)); do
        [ "$(health_key "$1" "$2")" = "$3" ] && return 0
        sleep 0.01
    done
    return 1
}
ctl add resident sync report_ms=100 child=1 pidfile="$work/res.pid"
tap_is "$OUT" "sync added" "add a resident job"
wait_health sync state ok
tap_ok $? "it reports: state ok"
rpid=$(health_key sync pid)
rchild=$(health_key sync fig.child_pid)
tap_is "$(wait_file "$work/res.pid")" "$rpid" "its process is the one health names"
tap_is "$(ps -o sid= -p "$rpid" | tr -d ' ')" "$rpid" "and leads a session of its own"
seq1=$(health_key sync fig.seq)
sleep 0.3
tap_cond "$(health_key sync fig.seq) > seq1" "its figures arrive while it runs"
tap_ok "$([ -f "$SOCK.jobs/sync.job" ] && [ -p "$SOCK.jobs/sync.fifo" ]; echo $?)" \
    "it is recorded in the run directory, beside its fifo"
kill -KILL "$pid2"
wait_gone "$pid2"
tap_ok "$(alive "$rpid" && alive "$rchild"; echo $?)" \
    "after SIGKILL of the daemon the resident and its child live on"
ctl start
pid3=$(daemon_pid)
tap_cond "${pid3:-0} > 0 && pid3 != pid2" "a new daemon"
tap_is "$(health_key sync pid)" "$rpid" "which adopted the same process"
tap_is "$(health_key sync adopted)" 1 "and says so"
wait_health sync state ok
tap_ok $? "the adopted job reports healthy"
tap_is "$(health_key sync fig.pid)" "$rpid" "with figures from that process"
tap_is "$(health_key sync restarts)" 0 "never restarted"
ctl add resident sync report_ms=100 child=1 pidfile="$work/res.pid"
tap_is "$OUT" "sync unchanged" "the agent's job-add finds it as it was"
ctl remove sync
tap_is "$RC" 0 "remove the adopted job"
tap_ok "$( ! alive "$rpid" && ! alive "$rchild"; echo $?)" \
    "its process and its child are gone when remove returns"
tap_ok "$([ ! -e "$SOCK.jobs/sync.job" ] && [ ! -e "$SOCK.jobs/sync.fifo" ]; echo $?)" \
    "and so is its record"
pid2=$pid3

# --- SIGTERM
ctl add test slow interval_ms=0 prog="$slow" onstop="$work/onstop"
rm -f "$work/onstop"
ctl run slow &
slow_started
ctl add test web sleep_ms=100000 child=1
sleep 0.3
worker=$(children "$pid2" | head -1)
tap_cond "${worker:-0} > 0" "a run is under way"
kill -TERM "$pid2"
wait_gone "$pid2"
tap_ok $? "SIGTERM stops the daemon"
tap_ok "$([ ! -e "$SOCK" ]; echo $?)" "and removes its socket"
tap_ok "$(alive "$worker"; [ $? -ne 0 ]; echo $?)" "after killing its workers"
tap_ok "$( ! alive "$prog" && ! alive "$prog2"; echo $?)" \
    "and the programs of their runs"
tap_is "$(cat "$work/onstop" 2> /dev/null)" "cleaned up" \
    "which were told to stop first, and cleaned up"
wait
tap_like "$(cat "$work/vchad.log")" "*stopping on signal 15*" "it logged why"

# --- SIGTERM leaves the residents to the next daemon, but not one being removed
ctl start
pid4=$(daemon_pid)
ctl add resident keep report_ms=100
ctl add resident r1 report_ms=100 ignore_term=1
wait_health keep state ok && wait_health r1 state ok
tap_ok $? "two residents report"
kpid=$(health_key keep pid)
r1pid=$(health_key r1 pid)
"$CTL" remove r1 > "$work/remove.out" 2>&1 &
rmpid=$!
sleep 0.3 # r1 ignores the SIGTERM of its removal: the removal goes on
kill -TERM "$pid4"
wait_gone "$pid4"
tap_ok $? "SIGTERM stops the daemon during the removal"
wait "$rmpid"
tap_is "$?:$(cat "$work/remove.out")" "0:" "the removal is answered: done"
tap_ok "$( ! alive "$r1pid"; echo $?)" "the removed resident's process is gone"
tap_ok "$([ ! -e "$SOCK.jobs/r1.job" ]; echo $?)" "and so is its record"
tap_ok "$(alive "$kpid"; echo $?)" "the other resident outlives the SIGTERM"
ctl start
tap_is "$(health_key keep pid)" "$kpid" "the next daemon adopts the same process"
tap_is "$(health_key keep adopted)" 1 "and says so"
ctl health r1
tap_is "$RC" 1 "and does not bring the removed job back"
ctl remove keep
tap_ok "$( ! alive "$kpid"; echo $?)" "the adopted resident is removed"
kill -TERM "$(daemon_pid)"
wait_gone "$(cat "$SOCK.lock" 2>/dev/null)"

# --- in the foreground
"$VCHAD" -f -s "$SOCK" &
FG_PID=$!
for ((i = 0; i < 500; i++)); do "$CTL" ping >/dev/null 2>&1 && break; sleep 0.01; done
tap_is "$(daemon_pid)" "$FG_PID" "vchad -f serves in the foreground"
kill -TERM "$FG_PID"
wait "$FG_PID"
tap_is "$?" 0 "and exits 0 on SIGTERM"
FG_PID=

# --- vchactl excludes: the sync's filter for a tree, no daemon needed
xr=$work/xroot
mkdir -p "$xr/var/lib/dpkg/info" "$xr/usr/lib/modules/1.0" "$xr/etc"
printf 'Package: base-files\nStatus: install ok installed\n\nPackage: linux-image-1.0\nStatus: install ok installed\n' \
    > "$xr/var/lib/dpkg/status"
printf '/.\n/etc\n/etc/passwd\n/usr\n/usr/lib\n' > "$xr/var/lib/dpkg/info/base-files.list"
printf '/.\n/usr\n/usr/lib\n/usr/lib/modules\n/usr/lib/modules/1.0\n/usr/lib/modules/1.0/a.ko\n' \
    > "$xr/var/lib/dpkg/info/linux-image-1.0.list"
touch "$xr/etc/passwd" "$xr/usr/lib/modules/1.0/a.ko"
ctl excludes "$xr" --include /etc/hostname
tap_is "$RC" 0 "vchactl excludes prints a tree's filter"
tap_like "$OUT" "*- /usr/lib/modules/\*\*\**" "with a kernel package's tree as one entry"
tap_like "$OUT" "*+ /etc/hostname*" "and an include"
tap_like "$(echo "$OUT" | tail -1)" \
    "# 17 exclusions from 5 paths of 1 unneeded packages (of 2), * ms" \
    "then a comment line with the count (the include took one) and the time"
ctl excludes "$xr" -o "$work/filter"
tap_is "$RC:$(grep -c . "$work/filter" 2> /dev/null)" "0:18" \
    "-o FILE writes the filter there"
tap_like "$OUT" "# 18 exclusions*" "and prints the comment line"
rm "$xr/var/lib/dpkg/status"
ctl excludes "$xr" -o "$work/filter2"
tap_is "$RC" 1 "a tree without a dpkg database fails"
tap_like "$ERR" "*cannot read $xr/var/lib/dpkg/status*" "naming the file"
tap_ok "$([ ! -e "$work/filter2" ]; echo $?)" "and writes nothing"
ctl excludes relative/root
tap_is "$RC" 2 "a relative root is a usage error"

tap_done
