#!/bin/bash
# Every crm-config-examples scenario: its CIB XML passes crm_verify, and its
# crm shell script, loaded into the same base CIB, configures the same thing
# as the XML (which its pcs script produced).
set -u
. "$top_srcdir/tests/lib/tap.sh"

examples=$top_srcdir/crm-config-examples
for prog in crm_verify crm xsltproc; do
    command -v "$prog" >/dev/null || tap_bail "$prog missing: install pacemaker-cli-utils crmsh xsltproc"
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
summary() { xsltproc "$top_srcdir/tests/conformance/cib-summary.xsl" "$1" | sort; }

crm_verify -x "$examples/base-cib.xml" > "$tmp/out" 2>&1
tap_ok $? "base-cib.xml passes crm_verify"
for dir in "$examples"/*/; do
    ex=$(basename "$dir")
    crm_verify -x "$dir/cib.xml" > "$tmp/out" 2>&1
    tap_ok $? "$ex: cib.xml passes crm_verify"
    sed 's/^/#  /' "$tmp/out"
    base=$examples/base-cib.xml
    [ -r "$dir/base.xml" ] && base=$dir/base.xml
    cp "$base" "$tmp/crm.xml"
    # crm shell checks agents it knows; offline, vcha's may not be installed
    CIB_file=$tmp/crm.xml crm -F configure load update "$dir/crm.txt" \
        > "$tmp/out" 2>&1
    tap_ok $? "$ex: crm.txt loads"
    crm_verify -x "$tmp/crm.xml" > "$tmp/out" 2>&1
    tap_ok $? "$ex: the CIB crm.txt makes passes crm_verify"
    summary "$dir/cib.xml" > "$tmp/want"
    summary "$tmp/crm.xml" > "$tmp/got"
    diff -u "$tmp/want" "$tmp/got" > "$tmp/diff"
    tap_ok $? "$ex: crm.txt configures what pcs.sh configured (cib.xml)"
    sed 's/^/#  /' "$tmp/diff"
    [ -s "$tmp/want" ]
    tap_ok $? "$ex: cib.xml configures something"
done
# The container set's constraints, as the scheduler reads them: each
# service on its own VM, the set on the standby VMs only; a primary VM
# lost, its service goes to standby1, which holds its synced tree (ctset's
# vcha-sync-NAME, set here as ctset sets it: both trees on standby1, none
# on standby2, the overflow standby); both lost, both there; the services
# grown past standby1's capacity, one migrates to standby2.  (Without the
# rule preferring a synced copy, both VMs lost, the scheduler balances db
# onto standby2, which has no copy; without standby2's overflow mark, the
# grown db stops instead of migrating.)
cib=$tmp/ctset.xml
cp "$examples/ctset/cib.xml" "$cib"
synced() { # synced NODE MEMBER STATE: ctset's transient attribute
    CIB_file=$cib crm_attribute -N "$1" -n "vcha-sync-$2" -v "$3" -l reboot
}
synced standby1 web complete && synced standby1 db complete &&
    synced standby2 web never && synced standby2 db never
tap_ok $? "ctset: its attributes set in a copy of the CIB"
placed() { # placed [crm_simulate options]: "RESOURCE NODE" lines, sorted
    crm_simulate -x "$cib" -S "$@" 2> /dev/null |
        sed -n '/Revised Cluster Status/,$s/^ *\* \([a-z-]*\)[[:space:]]*(ocf:vcha:[a-z]*):[[:space:]]*Started \([a-z0-9-]*\)/\1 \2/p' |
        sort
}
tap_is "$(placed | tr '\n' ' ')" \
    "db db-vm db-dns db-vm web web-vm web-dns web-vm " \
    "ctset: each service runs on its own VM"
tap_is "$(crm_simulate -x "$cib" -S 2> /dev/null | sed -n '/Revised Cluster Status/,$s/^ *\* Started: \[ \(.*\) \]/\1/p')" \
    "standby1 standby2" "ctset: the container set runs on the standby VMs only"
tap_is "$(placed -d web-vm | tr '\n' ' ')" \
    "db db-vm db-dns db-vm web standby1 web-dns standby1 " \
    "ctset: web-vm lost, web and its name go to standby1, which holds its tree; db stays"
tap_is "$(placed -d web-vm -d db-vm | tr '\n' ' ')" \
    "db standby1 db-dns standby1 web standby1 web-dns standby1 " \
    "ctset: both VMs lost, both services go to standby1, never to standby2 (no copy)"
tap_is "$(placed -d web-vm -d standby1 | tr '\n' ' ')" \
    "db db-vm db-dns db-vm web standby2 web-dns standby2 " \
    "ctset: web-vm and standby1 lost, web is sent to the overflow standby (where vcservice refuses a member never synced)"
# both on standby1, then web grows (its utilization, as measured): they no
# longer fit, and one migrates to standby2 with its name
crm_simulate -x "$cib" -S -d web-vm -d db-vm -O "$tmp/both.xml" > /dev/null 2>&1
CIB_file=$tmp/both.xml crm_resource -r web -z -p memory -v 3500 > /dev/null 2>&1
crm_simulate -x "$tmp/both.xml" -S 2> /dev/null | sed -n '/Transition Summary/,/Executing/p' > "$tmp/grown"
sed 's/^/#  /' "$tmp/grown"
tap_is "$(grep -c 'Migrate *db *( standby1 -> standby2 )' "$tmp/grown") $(grep -c 'Move *db-dns *( standby1 -> standby2 )' "$tmp/grown") $(grep -c 'Stop *\(web\|db\) ' "$tmp/grown")" "1 1 0" \
    "ctset: standby1 overloaded, db live-migrates to standby2 and its name follows; nothing stops"
tap_done
