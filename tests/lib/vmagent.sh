# What the ocf:vcha:vm tests share (bash; after tap.sh):
#
#   vmagent_vchad WORK        the agent starts vchad (from the build) for the
#                             health job, on a socket under WORK; a fake
#                             attrd_updater takes the node attributes (no
#                             cluster here); the pid namespace ends vchad
#   vmagent_health ID KEY     the value of KEY in vchactl health ID
#   vmagent_wait ID KEY VALUE SECONDS
#                             0 once KEY of job ID is VALUE
#   vmagent_grace_check       with the verdict bad and just seen: a depth-10
#                             monitor (the caller's `deep`, its rc in RC)
#                             passes at once, then fails within 10 s, not
#                             before 1.5 s (health_grace 3 s, the job's
#                             reports once a second), naming the verdict
#   vmagent_ms_since T        milliseconds since $EPOCHREALTIME was T

vmagent_vchad() {
    local work=$1
    export VCHA_VCHAD=$top_builddir/daemon/vchad VCHA_SOCKET=$work/run/vchad.sock
    export VCHA_RUN_DIR=$work/run
    mkdir -p "$work/bin"
    printf '#!/bin/sh\necho "$*" >> %s/attrd.log\n' "$work" > "$work/bin/attrd_updater"
    chmod 755 "$work/bin/attrd_updater"
    export PATH=$work/bin:$PATH
}

vmagent_health() {
    "$top_builddir/daemon/vchactl" health "$1" 2> /dev/null | sed -n "s/^$2=//p"
}

vmagent_wait() {
    local i
    for ((i = 0; i < $4 * 10; i++)); do
        [ "$(vmagent_health "$1" "$2")" = "$3" ] && return 0
        sleep 0.1
    done
    return 1
}

vmagent_ms_since() {
    awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%d", (b - a) * 1000 }'
}

vmagent_grace_check() {
    local t1=$EPOCHREALTIME ms
    deep
    tap_is "$RC" 0 "within health_grace the monitor still passes"
    # the job reports once a second: the verdict's age it gives may lag by one
    for _ in $(seq 1 40); do
        deep
        [ "$RC" = 1 ] && break
        sleep 0.25
    done
    ms=$(vmagent_ms_since "$t1")
    tap_is "$RC" 1 "past health_grace the monitor at depth 10 fails"
    tap_cond "ms >= 1500" "not before health_grace (3 s; $ms ms after the verdict was seen)"
    tap_like "$(reason)" "*guest hung for * s (cpu 0.00 % of one CPU*" \
        "naming the verdict and its figures ($(reason))"
}
