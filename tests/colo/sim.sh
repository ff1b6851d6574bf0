#!/bin/bash
# The COLO checkpoint controller (libcommon/colo/coloctl.c) replayed by
# tests/colo/colosim on checkpoint traces recorded from a real COLO pair
# (tests/colo/record-trace; tests/colo/traces): that the replay is
# deterministic, that its model gives back what was recorded (in colo mode,
# and in periodic mode from a trace recorded in it), and seed 003's goal
# as far as it is met here: the hybrid no worse than the best static mode
# on any workload (but for the cost of its probes, at most 1 point), and
# below it on the one whose load comes and goes (the seed's 10% is not
# reached on these traces: 6 to 9% over seeds; README, "COLO VM pairs").
set -u
. "$top_srcdir/tests/lib/tap.sh"

SIM=$top_builddir/tests/colo/colosim
T=$top_srcdir/tests/colo/traces
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# fig OUTPUT POLICY KEY: a figure of colosim --kv's line for POLICY
fig() {
    awk -v p="policy=$2" -v k="$3" '$1 == p {
        for (i = 1; i <= NF; i++) { split($i, a, "="); if (a[1] == k) print a[2] } }' <<< "$1"
}
# kv OUTPUT KEY: a key of colosim --kv's summary lines
kv() {
    tr ' ' '\n' <<< "$1" | awk -F= -v k="$2" '$1 == k { print $2; exit }'
}
# numbers A...: each a number (a figure missing from the output is none)
numbers() {
    local x
    for x; do
        [[ $x =~ ^-?[0-9]+(\.[0-9]+)?$ ]] || return 1
    done
}
# within A B REL ABS: |A - B| <= REL * B + ABS
within() {
    numbers "$1" "$2" || return 1
    awk -v a="$1" -v b="$2" -v r="$3" -v s="$4" 'BEGIN {
        d = a - b; if (d < 0) d = -d; exit !(d <= r * b + s) }'
}
# le A B: A <= B
le() {
    numbers "$1" "$2" || return 1
    awk -v a="$1" -v b="$2" 'BEGIN { exit !(a <= b) }'
}

# --- bad input: a clear message and exit 2, never figures
out=$("$SIM" 2>&1)
tap_ok $(($? != 2)) "no trace: exit 2"
tap_like "$out" "usage: colosim*" "no trace: usage"
echo "not a trace" > "$work/bad.trace"
out=$("$SIM" "$work/bad.trace" 2>&1)
tap_ok $(($? != 2)) "a file that is not a trace: exit 2"
tap_like "$out" "*bad.trace: not a checkpoint trace*" "... named, and said why"
out=$("$SIM" --set bogus=1 "$T/idle.trace" 2>&1)
tap_ok $(($? != 2)) "an unknown setting: exit 2"
tap_like "$out" "*--set bogus=1: no such setting*" "... named"
out=$("$SIM" --set b_bar=0 "$T/idle.trace" 2>&1)
tap_ok $(($? != 2)) "a setting out of range: exit 2"
tap_like "$out" "*setting b_bar is out of range*" "... named"
# a checkpoint that ends after the recording did: no trace (the model
# would count it past its buckets)
printf '%s\n' "# x-checkpoint-delay: 2000 ms" "1000 50" "1990 50" \
    "# end_ms: 2000" > "$work/past.trace"
out=$("$SIM" "$work/past.trace" 2>&1)
tap_ok $(($? != 2)) "a checkpoint past the end: exit 2"
tap_like "$out" "*past.trace: not a checkpoint trace*" "... named"
tap_ok $(numbers "" 1; echo $((!$?))) "a missing figure is no number"

# --- the model: a checkpoint sooner than the delay after the one before
# it was asked for by a difference; the first one's timer is unknown
printf '%s\n' "# x-checkpoint-delay: 2000 ms" "100 50" "2100 50" "2600 50" \
    "4600 50" "# end_ms: 6000" > "$work/mixed.trace"
out=$("$SIM" --kv "$work/mixed.trace")
tap_is "$(kv "$out" demand) $(kv "$out" timer)" "1 3" \
    "a short trace: one checkpoint asked for by a difference, three by the timer"

# --- each trace
for w in idle det diverge phase; do
    out=$("$SIM" --kv "$T/$w.trace")
    tap_ok $? "$w: replayed"
    sed -n 's/^policy=/# policy=/p; s/^best_static=/# best_static=/p' <<< "$out"
    again=$("$SIM" --kv "$T/$w.trace")
    tap_is "$again" "$out" "$w: the same seeds give the same figures"
    rec=$(fig "$out" recorded downtime_pct)
    colorec=$(fig "$out" colo@rec downtime_pct)
    within "$colorec" "$rec" 0.1 0.3
    tap_ok $? "$w: replayed as recorded (colo at its delay), the model gives back its downtime ($colorec% against $rec%, within 10% + 0.3)"
    eval "out_$w=\$out"
done
other=$("$SIM" --kv --seed 7 "$T/diverge.trace")
[ "$other" != "$out_diverge" ]
tap_ok $? "diverge: other seeds, other draws"

# --- the model tells the workloads apart
# shellcheck disable=SC2154
colo=$(fig "$out_idle" colo downtime_pct)
per=$(fig "$out_idle" periodic downtime_pct)
le "$colo" "$per"
tap_ok $? "idle: colo ($colo%) below periodic ($per%)"
# shellcheck disable=SC2154
colo=$(fig "$out_diverge" colo downtime_pct)
per=$(fig "$out_diverge" periodic downtime_pct)
le "$per" "$colo"
tap_ok $? "diverge: periodic ($per%) below colo ($colo%)"

# --- periodic mode predicted from colo traces against one recorded in it
recper=$(fig "$("$SIM" --kv "$T/idle-periodic.trace")" recorded downtime_pct)
per=$(fig "$out_idle" periodic downtime_pct)
within "$per" "$recper" 0.1 0.3
tap_ok $? "periodic every 250 ms: predicted $per%, recorded $recper% (within 10% + 0.3)"

# --- stock QEMU: its periodic mode still checkpoints on every difference
stock=$("$SIM" --kv --stock --policy periodic "$T/diverge.trace")
sper=$(fig "$stock" periodic downtime_pct)
awk -v s="$sper" -v c="$colo" 'BEGIN { exit !(s >= 0.9 * c) }'
tap_ok $? "diverge on stock QEMU: periodic ($sper%) no better than colo ($colo%)"

# --- seed 003's goal
for w in idle det diverge phase; do
    eval "out=\$out_$w"
    best=$(kv "$out" best_downtime_pct)
    hyb=$(fig "$out" hybrid downtime_pct)
    # "never worse", but for what its probes of colo mode cost where colo
    # never pays: at most 1 point of downtime
    awk -v h="$hyb" -v b="$best" 'BEGIN { exit !(h <= b + 1.0) }'
    tap_ok $? "$w: the hybrid ($hyb%) at most 1 point above the best static mode ($(kv "$out" best_static), $best%)"
done
gain=$(kv "$out_phase" hybrid_gain_pct)
le 5 "$gain"
tap_ok $? "phase: the hybrid $gain% below the best static mode (at least 5%)"

tap_done
