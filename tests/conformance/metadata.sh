#!/bin/bash
# Each agent's meta-data equals its golden file in ocf-metadata/ and is valid
# against the OCF 1.1 schema (as pcs ships it), and its OCF 1.0 view (without
# what OCF 1.1 added: ocf-1.0-view.xsl) against the OCF DTD (what ocf-tester
# uses) and resource-agents' RNG; the man page made from it renders.
# `make metadata-update` regenerates the golden files.
set -u
. "$top_srcdir/tests/lib/tap.sh"

AGENTS="dnsswitch criuct vm ctset vcservice colo"
RA_RNG=${RA_RNG:-/usr/share/resource-agents/metadata.rng}
OCF11_RNG=${OCF11_RNG:-/usr/share/pcs/data/ocf-1.1.rng}
VIEW=$top_srcdir/tests/conformance/ocf-1.0-view.xsl
[ -r "$RA_API_DTD" ] || tap_bail "$RA_API_DTD missing: install resource-agents"
[ -r "$RA_RNG" ] || tap_bail "$RA_RNG missing: install resource-agents"
[ -r "$OCF11_RNG" ] || tap_bail "$OCF11_RNG missing: install pcs"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

for a in $AGENTS; do
    golden=$top_srcdir/ocf-metadata/$a.xml
    env -i "$top_builddir/agents/$a" meta-data > "$tmp/$a.xml"
    tap_is "$?" 0 "$a: meta-data exits 0 with an empty environment"
    diff -u "$golden" "$tmp/$a.xml" > "$tmp/diff"
    tap_ok $? "$a: meta-data matches ocf-metadata/$a.xml (make metadata-update)"
    sed 's/^/#  /' "$tmp/diff"
    "$XMLLINT" --noout --relaxng "$OCF11_RNG" "$tmp/$a.xml" 2> "$tmp/err"
    tap_ok $? "$a: valid against the OCF 1.1 schema ($OCF11_RNG)"
    grep -v 'validates$' "$tmp/err" | sed 's/^/#  /'
    "$XSLTPROC" --nonet --novalid "$VIEW" "$tmp/$a.xml" > "$tmp/$a-1.0.xml"
    "$XMLLINT" --noout --dtdvalid "$RA_API_DTD" "$tmp/$a-1.0.xml" 2> "$tmp/err"
    tap_ok $? "$a: its OCF 1.0 view is valid against $(basename "$RA_API_DTD")"
    grep -v 'failed to load external entity\|DOCTYPE\|^ *^' "$tmp/err" | sed 's/^/#  /'
    "$XMLLINT" --noout --relaxng "$RA_RNG" "$tmp/$a-1.0.xml" 2> "$tmp/err"
    tap_ok $? "$a: its OCF 1.0 view is valid against $(basename "$RA_RNG")"
    grep -v 'validates$' "$tmp/err" | sed 's/^/#  /'
    PATH=/nonexistent "$top_builddir/agents/$a" meta-data > /dev/null
    tap_is "$?" 0 "$a: meta-data works with every external program missing"
    OCF_CHECK_LEVEL=0 PATH=/nonexistent "$top_builddir/agents/$a" \
        validate-all > /dev/null 2>&1
    rc=$?
    tap_like "$rc" "[06]" "$a: validate-all at level 0 runs with no programs (rc $rc)"
    page=$top_builddir/ocf-metadata/ocf_vcha_$a.7
    if [ -r "$page" ]; then
        man -l "$page" 2>/dev/null | grep -q "ocf_vcha_$a"
        tap_ok $? "$a: man page renders"
        for p in $("$XMLLINT" --xpath '//parameter/@name' "$tmp/$a.xml" |
            sed 's/ name="\([^"]*\)"/\1 /g'); do
            grep -q "fB$p\\\\fR" "$page"
            tap_ok $? "$a: man page documents parameter $p"
        done
    else
        tap_ok 1 "$a: man page $page was built"
    fi
done

# Fence agents: golden file, the fence-agents RNG, and its fence2rng.xsl
# (as fence-agents' own make check does), and the man page.
FENCE_AGENTS="fence_vcha_libvirt"
FENCE_RNG=$FENCE_RNG_DIR/metadata.rng
[ -r "$FENCE_RNG" ] || tap_bail "$FENCE_RNG missing: install fence-agents"
for a in $FENCE_AGENTS; do
    env -i "$top_builddir/stonith/$a" -o metadata > "$tmp/$a.xml"
    tap_is "$?" 0 "$a: -o metadata exits 0 with an empty environment"
    diff -u "$top_srcdir/ocf-metadata/$a.xml" "$tmp/$a.xml" > "$tmp/diff"
    tap_ok $? "$a: metadata matches ocf-metadata/$a.xml (make metadata-update)"
    sed 's/^/#  /' "$tmp/diff"
    "$XMLLINT" --noout --relaxng "$FENCE_RNG" "$tmp/$a.xml" 2> "$tmp/err"
    tap_ok $? "$a: valid against the fence-agents metadata.rng"
    grep -v 'validates$' "$tmp/err" | sed 's/^/#  /'
    xsltproc "$FENCE_RNG_DIR/fence2rng.xsl" "$tmp/$a.xml" |
        sed -e 's/ rha:description=/ description=/g' \
            -e 's/ rha:name=/ name=/g' |
        "$XMLLINT" --nsclean --noout - 2> "$tmp/err"
    tap_ok $? "$a: fence2rng.xsl turns it into a well-formed schema"
    sed 's/^/#  /' "$tmp/err"
    printf 'action=metadata\n' | "$top_builddir/stonith/$a" > "$tmp/stdin.xml"
    cmp -s "$tmp/$a.xml" "$tmp/stdin.xml"
    tap_ok $? "$a: action=metadata on stdin gives the same"
    page=$top_builddir/stonith/$a.8
    man -l "$page" 2>/dev/null | grep -q "^ *$a"
    tap_ok $? "$a: man page renders"
    for p in $("$XMLLINT" --xpath '//parameter/@name' "$tmp/$a.xml" |
        sed 's/ name="\([^"]*\)"/\1 /g'); do
        grep -q "fB$p\\\\fR" "$page"
        tap_ok $? "$a: man page documents $p"
    done
done
tap_done
