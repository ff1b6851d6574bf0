# TAP helpers for the shell tests (bash).  Source it, call the checks, end
# with tap_done.  Every check prints one "ok"/"not ok" line.

tap_n=0
tap_failed=0

tap_ok() { # tap_ok CONDITION-RC DESCRIPTION
    tap_n=$((tap_n + 1))
    if [ "$1" -eq 0 ]; then
        echo "ok $tap_n - $2"
    else
        echo "not ok $tap_n - $2"
        # a "# TODO" check names a known defect: reported, not failed (TAP)
        [[ "$2" == *" # TODO"* ]] || tap_failed=$((tap_failed + 1))
    fi
}

tap_cond() { # tap_cond 'ARITHMETIC-EXPRESSION' DESCRIPTION: ok when true
    if (( $1 )); then
        tap_ok 0 "$2"
    else
        tap_ok 1 "$2"
        printf '#   false: %s\n' "$1"
    fi
}

tap_is() { # tap_is ACTUAL EXPECTED DESCRIPTION
    if [ "$1" = "$2" ]; then
        tap_ok 0 "$3"
    else
        tap_ok 1 "$3"
        printf '#   got:      %s\n#   expected: %s\n' "$1" "$2"
    fi
}

tap_like() { # tap_like ACTUAL GLOB DESCRIPTION
    # shellcheck disable=SC2053
    if [[ "$1" == $2 ]]; then
        tap_ok 0 "$3"
    else
        tap_ok 1 "$3"
        printf '#   got:      %s\n#   expected: %s\n' "$1" "$2"
    fi
}

tap_skip_all() { # tap_skip_all REASON: honest skip of the whole file
    echo "1..0 # SKIP $1"
    exit 0
}

# TAP_FAIL_NOTE, when set, is printed as a comment after a failed or bailed
# run (the lab's scenarios: where the nodes' logs are)
tap_fail_note() {
    [ -z "${TAP_FAIL_NOTE:-}" ] || printf '# %s\n' "$TAP_FAIL_NOTE"
}

tap_bail() {
    echo "Bail out! $*"
    tap_fail_note
    exit 1
}

tap_diag() {
    printf '# %s\n' "$@"
}

tap_done() {
    echo "1..$tap_n"
    [ "$tap_failed" -eq 0 ] || tap_fail_note
    [ "$tap_failed" -eq 0 ]
}

# ra ACTION [VAR=VALUE...]: run the agent under test ($AGENT) with the OCF
# environment in RA_ENV (an array) plus the given variables.  Sets RA_RC,
# RA_OUT, RA_ERR and RA_REASON (the ocf-exit-reason text).
ra() {
    local action=$1 errf
    shift
    errf=$(mktemp)
    RA_OUT=$(env "${RA_ENV[@]}" "$@" "$AGENT" ${action:+"$action"} 2>"$errf")
    RA_RC=$?
    RA_ERR=$(cat "$errf")
    RA_REASON=$(sed -n 's/^ocf-exit-reason://p' "$errf")
    rm -f "$errf"
}
