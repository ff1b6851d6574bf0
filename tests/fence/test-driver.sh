#!/bin/bash
# fence_vcha_libvirt against libvirt's built-in test driver (a real libvirt,
# no daemon): every action and exit code, unknown plugs, the list format,
# delay, stdin and getopt forms giving the same, bad URIs, identity_file as
# ssh sees it, a hung connection that must not hang the agent, and a worker
# that must not outlive a killed agent.
set -u
. "$top_srcdir/tests/lib/tap.sh"

FENCE=$top_builddir/stonith/fence_vcha_libvirt
BLACKHOLE=$top_builddir/tests/fence/blackhole
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$work"' EXIT

# Two domains: vm-on running, vm-off shut off.  Every connection to a test
# driver starts from this file, so state changes last one invocation.
cat > "$work/node.xml" <<XML
<node>
  <cpu><mhz>2000</mhz><model>x86</model><active>2</active><nodes>1</nodes>
    <sockets>1</sockets><cores>2</cores><threads>1</threads></cpu>
  <memory>2097152</memory>
  <domain type='test' xmlns:test='http://libvirt.org/schemas/domain/test/1.0'>
    <name>vm-on</name><uuid>11111111-2222-3333-4444-555555555501</uuid>
    <memory>65536</memory><vcpu>1</vcpu><os><type>hvm</type></os>
  </domain>
  <domain type='test' xmlns:test='http://libvirt.org/schemas/domain/test/1.0'>
    <name>vm-off</name><uuid>11111111-2222-3333-4444-555555555502</uuid>
    <memory>65536</memory><vcpu>1</vcpu><os><type>hvm</type></os>
    <test:runstate>5</test:runstate>
  </domain>
</node>
XML
URI=test://$work/node.xml
# A crashed domain (its QEMU kept for debugging): off, but still active.
cat > "$work/crashed.xml" <<XML
<node>
  <domain type='test' xmlns:test='http://libvirt.org/schemas/domain/test/1.0'>
    <name>vm-crashed</name><uuid>11111111-2222-3333-4444-555555555503</uuid>
    <memory>65536</memory><vcpu>1</vcpu><os><type>hvm</type></os>
    <test:runstate>6</test:runstate>
  </domain>
</node>
XML
CRASHED=test://$work/crashed.xml

# fence ARGS...: run with options; sets RC, OUT, ERR, MS (elapsed)
fence() {
    local t0=$EPOCHREALTIME
    OUT=$("$FENCE" "$@" 2> "$work/err")
    RC=$?
    MS=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%d", (b - a) * 1000 }')
    ERR=$(cat "$work/err")
}
# fence_stdin LINES: the same, parameters on standard input
fence_stdin() {
    OUT=$(printf '%b' "$1" | "$FENCE" 2> "$work/err")
    RC=$?
    ERR=$(cat "$work/err")
}

fence --uri "$URI" -o status -n vm-on
tap_is "$RC:$OUT" "0:Status: ON" "status of a running domain: 0, ON"
fence --uri "$URI" -o status -n vm-off
tap_is "$RC:$OUT" "2:Status: OFF" "status of a shut-off domain: 2, OFF"
fence --uri "$URI" -o status -n 11111111-2222-3333-4444-555555555501
tap_is "$RC" 0 "a plug can be a UUID"
fence --uri "$URI" -o off -n vm-on
tap_is "$RC" 0 "off of a running domain: destroyed and confirmed"
fence --uri "$URI" -o off -n vm-off
tap_is "$RC" 0 "off of a domain that is off already"
fence --uri "$URI" -o on -n vm-off
tap_is "$RC" 0 "on of a shut-off domain: started and confirmed"
fence --uri "$URI" -o on -n vm-on
tap_is "$RC" 0 "on of a running domain"
fence --uri "$URI" -o reboot -n vm-on
tap_is "$RC" 0 "reboot (off, then on)"
fence --uri "$URI" -o reboot -n vm-on --method=cycle
tap_is "$RC" 0 "reboot by hard reset (method=cycle)"
# a reset needs a running domain; the node of a crashed VM must be fenced
fence --uri "$URI" -o reboot -n vm-off --method=cycle -v
tap_is "$RC" 0 "method=cycle of a domain that is off: success"
tap_like "$ERR" "*vm-off is off: starting it*" "it is started instead of reset"
tap_like "$ERR" "!(*did not come back on*)" "and it came back on"
for m in onoff cycle; do
    fence --uri "$CRASHED" -o reboot -n vm-crashed --method=$m --power-timeout=5
    tap_is "$RC" 0 "method=$m of a crashed domain: success"
    tap_like "$ERR" "!(*did not come back on*)" "method=$m: it came back on"
done
fence --uri "$URI" -o monitor
tap_is "$RC" 0 "monitor: the connection answers"

fence --uri "$URI" -o list
tap_is "$RC" 0 "list exits 0"
tap_is "$OUT" "vm-off,11111111-2222-3333-4444-555555555502
vm-on,11111111-2222-3333-4444-555555555501" "list: a plug,alias (name,uuid) line per domain, by name"
fence --uri "$URI" -o list-status
tap_is "$OUT" "vm-off,11111111-2222-3333-4444-555555555502,off
vm-on,11111111-2222-3333-4444-555555555501,on" "list-status adds on/off"

# --- unknown plugs
fence --uri "$URI" -o off -n nosuch
tap_is "$RC" 1 "off of an unknown domain fails"
tap_like "$ERR" "*no domain nosuch at $URI*" "and says which domain and where"
fence --uri "$URI" -o status -n nosuch
tap_is "$RC" 1 "status of an unknown domain fails"
fence --uri "$URI" -o status -n nosuch --missing-as-off
tap_is "$RC" 2 "with missing_as_off, status of an unknown domain is off (2)"
fence --uri "$URI" -o off -n nosuch --missing-as-off
tap_is "$RC" 0 "with missing_as_off, off of an unknown domain succeeds"
fence --uri "$URI" -o on -n nosuch --missing-as-off
tap_is "$RC" 1 "on of an unknown domain fails even with missing_as_off"

# --- delay (the agent says when it waits; a lower bound is deterministic)
fence --uri "$URI" -o off -n vm-on --delay=2 -v
tap_is "$RC" 0 "off with delay=2"
tap_like "$ERR" "*delay: waiting 2000 ms before off*" "delay=2 holds the off back"
tap_cond "MS >= 2000" "for 2 s (took $MS ms)"
fence --uri "$URI" -o off -n vm-on --delay=0 -v
tap_like "$ERR" "!(*delay: waiting*)" "delay=0 does not wait"
fence --uri "$URI" -o status -n vm-on --delay=60 -v
tap_like "$ERR" "!(*delay: waiting*)" "delay does not hold back status"
tap_cond "MS < 30000" "status did not wait the 60 s (took $MS ms)"

# --- stdin and getopt forms
compare() { # compare DESC "stdin lines" getopt args...
    local desc=$1 lines=$2
    shift 2
    fence "$@"
    local a="$RC|$OUT"
    fence_stdin "$lines"
    tap_is "$RC|$OUT" "$a" "stdin and getopt agree: $desc"
}
compare "status on" "action=status\nuri=$URI\nplug=vm-on\n" \
    -o status --uri "$URI" -n vm-on
compare "status off via port" "action=status\nuri=$URI\nport=vm-off\n" \
    -o status --uri "$URI" -n vm-off
compare "list-status" "action=list-status\nuri=$URI\n" \
    -o list-status --uri "$URI"
compare "unknown plug" "action=off\nuri=$URI\nplug=nosuch\n" \
    -o off --uri "$URI" -n nosuch
fence_stdin "# a comment\n  action=status\nuri=test:///default\nuri=$URI\nplug=vm-off\nnodename=node9\npcmk_host_list=x\n"
tap_is "$RC|$OUT" "2|Status: OFF" "stdin: comments, leading blanks, last value wins, unknown keys ignored"
fence_stdin "option=status\nuri=$URI\nport=vm-on\n"
tap_is "$RC" 0 "stdin: the old names option and port still work"
fence_stdin "uri=$URI\nplug=vm-on\naction=status\r\n"
tap_is "$RC" 0 "stdin: CRLF line ends"

# --- bad input
fence -o status -n vm-on --uri notauri
tap_is "$RC" 1 "a malformed URI is refused"
tap_like "$ERR" "*'uri'*not a libvirt URI*" "naming the parameter"
fence -o status -n vm-on --uri nosuchdriver:///x
tap_is "$RC" 1 "a URI no driver takes fails"
tap_like "$ERR" "*cannot connect to nosuchdriver:///x*" "naming the URI"
fence --uri "$URI" -o dance -n vm-on
tap_is "$RC" 1 "an unknown action is refused"
tap_like "$ERR" "*'action'*not a fence action*" "naming the parameter"
fence --uri "$URI" -o off
tap_is "$RC" 1 "off without a plug is refused"
tap_like "$ERR" "*'plug'*required for off*" "saying plug is needed"
fence --uri "$URI" -o status -n vm-on --power-timeout=abc
tap_is "$RC" 1 "a power_timeout that is not a number is refused"
fence --uri "$URI" --bogus
tap_is "$RC" 1 "an unknown option is refused"
fence --uri "$URI" -o status -n vm-on --password-file=relative
tap_like "$ERR" "*'password_file'*absolute*" "password_file must be an absolute path"
fence --uri "$URI" -o status -n vm-on --password-file="$work/none"
tap_is "$RC" 1 "a missing password file fails"
fence --uri "$URI" -o validate-all -n vm-on
tap_is "$RC" 0 "validate-all with good parameters"
fence -o validate-all --uri notauri
tap_is "$RC" 1 "validate-all with a bad URI"

# --- a hung connection must not hang the agent
coproc BH { "$BLACKHOLE" tcp; }
read -r port <&"${BH[0]}"
fence --uri "qemu+tcp://127.0.0.1:$port/system" -o status -n vm \
    --power-timeout=2
tap_is "$RC" 1 "a daemon that never answers: status fails"
tap_like "$ERR" "*status failed: no answer within 2000 ms (power_timeout)" \
    "at power_timeout, saying so"
# only a hang would take 30 s; giving up before power_timeout is a bug
tap_cond "MS >= 2000 && MS < 30000" "gives up, not earlier: took $MS ms"
fence --uri "qemu+tcp://127.0.0.1:$port/system" -o off -n vm \
    --power-timeout=2
tap_is "$RC" 1 "off against a hung daemon fails (never reported as done)"
tap_like "$ERR" "*off failed: no answer within 2000 ms (power_timeout)" \
    "at power_timeout"
tap_cond "MS >= 2000 && MS < 30000" "not earlier, not hanging: took $MS ms"

# --- identity_file: one file name for ssh, whatever its characters.  A
# stand-in ssh first on PATH records its arguments (libvirt runs "ssh").
mkdir -p "$work/bin"
cat > "$work/bin/ssh" <<SH
#!/bin/sh
printf '%s\n' "\$@" > "$work/ssh.args"
exit 1
SH
cat > "$work/other" <<SH
#!/bin/sh
touch "$work/other.ran"
exit 1
SH
chmod +x "$work/bin/ssh" "$work/other"
keyfile() { sed -n '/^-i$/{n;p;q}' "$work/ssh.args" 2> /dev/null; }
saved_path=$PATH
export PATH="$work/bin:$PATH"
key="$work/k dir/a&b;c#d%e+f"
fence --uri qemu+ssh://fencehost/system -o status -n vm -k "$key"
tap_is "$(keyfile)" "$key" "ssh -i gets a key file name with ' &;#%+' whole"
rm -f "$work/ssh.args"
fence --uri "qemu+ssh://fencehost/system?no_tty=1" -o status -n vm \
    -k "$work/k&command=$work/other"
tap_ok "$([ ! -e "$work/other.ran" ]; echo $?)" \
    "identity_file cannot add command= (no other program runs)"
tap_is "$(keyfile)" "$work/k&command=$work/other" "ssh runs, with it as the key file"
PATH=$saved_path

# --- the worker never outlives the agent: the fencer may kill the agent at
# a timeout shorter than ours, and a worker left behind could power the
# domain after Pacemaker has moved on.
dead() { # dead PID: gone, or a zombie nobody reaped
    local st
    st=$(sed -n 's/^[0-9]* (.*) \(.\).*/\1/p' "/proc/$1/stat" 2> /dev/null)
    [ -z "$st" ] || [ "$st" = Z ] || [ "$st" = X ]
}
"$FENCE" --uri "$URI" -o reboot -n vm-on --power-wait=60 2> /dev/null &
agent=$!
worker=
for _ in $(seq 1 100); do
    worker=$(pgrep -P "$agent") && break
    sleep 0.1
done
{ kill -KILL "$agent" && wait "$agent"; } 2> /dev/null # no "Killed" line
tap_ok "$([ -n "$worker" ]; echo $?)" "the agent had a worker (${worker:-none})"
for _ in $(seq 1 100); do
    [ -n "$worker" ] && dead "$worker" && break
    sleep 0.1
done
if [ -n "$worker" ] && ! dead "$worker"; then
    kill -KILL "$worker"
    tap_ok 1 "the worker died with the agent (it lived on)"
else
    tap_ok 0 "the worker died with the agent"
fi

tap_done
