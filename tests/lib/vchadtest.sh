# A private vchad for a test of its jobs (bash; with tests/lib/tap.sh):
# its socket and run directory in a scratch directory, its log there, and
# an attrd_updater that records its arguments instead of setting node
# attributes.
#
#   vchadtest_env [DIR]
#       set work (DIR, or a new scratch directory), SOCK and the environment that
#       vchactl and vchad read (VCHA_SOCKET, VCHA_VCHAD from $VCHAD,
#       VCHA_RUN_DIR, libqb's logging to $work/vchad.log), and put the
#       recording attrd_updater first on PATH: $work/attrd.log gets one
#       line of arguments a call
#   vchadtest_stop
#       stop the daemon (SIGTERM, up to 5 s) and, when a check failed,
#       show the end of its log
#   health_key ID KEY
#       KEY of `vchactl health ID` ("fig.NAME" for a figure)
#   wait_fig ID 'EXPR with $v' KEY
#       0 once KEY's value $v makes EXPR true, 1 after 20 s
vchadtest_env() {
    work=${1:-$(mktemp -d)}
    SOCK=$work/run/vchad.sock
    export VCHA_SOCKET=$SOCK VCHA_VCHAD=$VCHAD VCHA_RUN_DIR=$work/run
    export HA_LOGFACILITY=none HA_LOGFILE=$work/vchad.log HA_debug=1
    unset HA_LOGTAG
    mkdir -p "$work/bin"
    printf '#!/bin/sh\necho "$*" >> %s/attrd.log\n' "$work" > "$work/bin/attrd_updater"
    chmod 755 "$work/bin/attrd_updater"
    export PATH=$work/bin:$PATH
}

vchadtest_stop() {
    local pid i
    pid=$(cat "$SOCK.lock" 2> /dev/null)
    [ -n "$pid" ] && kill -TERM "$pid" 2> /dev/null
    for i in $(seq 50); do [ -e "/proc/$pid" ] || break; sleep 0.1; done
    if [ "$tap_failed" -gt 0 ] && [ -f "$work/vchad.log" ]; then
        tap_diag "vchad.log:" && tail -30 "$work/vchad.log" | sed 's/^/#   /'
    fi
}

health_key() { "$CTL" health "$1" 2> /dev/null | sed -n "s/^$2=//p"; }

wait_fig() {
    local i v
    for ((i = 0; i < 400; i++)); do
        v=$(health_key "$1" "$3")
        [ -n "$v" ] && eval "$2" && return 0
        sleep 0.05
    done
    return 1
}
