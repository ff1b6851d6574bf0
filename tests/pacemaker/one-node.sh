#!/bin/bash
# Under a real one-node Pacemaker cluster: libcommon's node attributes and
# promotion scores through Pacemaker's own tools, and dnsswitch run by
# Pacemaker, publishing the address that a node attribute holds and
# following it when it changes.
set -u
. "$top_srcdir/tests/lib/tap.sh"
. "$top_srcdir/tests/lib/cluster1.sh"
. "$top_srcdir/tests/lib/named.sh"

[ "$(id -u)" = 0 ] || tap_skip_all "a cluster in namespaces needs root"
for prog in corosync pacemakerd cibadmin crm_resource attrd_updater unshare ip named; do
    command -v "$prog" >/dev/null || tap_bail "$prog missing: install pacemaker corosync bind9"
done
cluster1_enter "$@"

work=$(mktemp -d)
trap 'named_stop; rm -rf "$work"' EXIT
cluster1_start "$work/cluster" || { cluster1_logs; tap_bail "the cluster did not start"; }
named_start "$work/named" || tap_bail "cannot start named"
TOOL=$top_builddir/tests/pacemaker/attr-tool
NAME=www.vcha.test

# last_op_xpath RESOURCE: where the CIB status records RESOURCE's last
# operation on node1; last_op RESOURCE prints its key and exit code
last_op_xpath() {
    echo "//node_state[@uname='node1']//lrm_resource[@id='$1']/lrm_rsc_op[@id='$1_last_0']"
}
last_op() {
    cibadmin -Q -o status -A "$(last_op_xpath "$1")" 2>/dev/null |
        sed -n 's/.* operation_key="\([^"]*\)".* rc-code="\([0-9]*\)".*/\1 rc-code=\2/p'
}

# --- node attributes and promotion scores
out=$("$TOOL" get web-address)
tap_is "$?:$out" "1:-61" "an attribute that was never set: -ENODATA"
"$TOOL" set web-address 198.18.0.50
tap_is "$?" 0 "vcha_attr_set"
cluster1_wait 10 sh -c "'$TOOL' get web-address | grep -qx 198.18.0.50"
tap_ok $? "vcha_attr_get reads back the transient value"
out=$("$TOOL" node-get web-address)
tap_is "$out" 198.18.0.50 "vcha_node_attr_get prefers the transient value"
"$TOOL" delete web-address
cluster1_wait 10 sh -c "! '$TOOL' get web-address"
tap_ok $? "vcha_attr_delete removes it"
crm_attribute -N node1 -n web-address -l forever -v 198.18.0.51
out=$("$TOOL" get web-address)
tap_is "$out" -61 "vcha_attr_get does not see a permanent attribute"
out=$("$TOOL" node-get web-address)
tap_is "$out" 198.18.0.51 "vcha_node_attr_get falls back to the permanent value"
OCF_RESOURCE_INSTANCE=colo-test "$TOOL" promote 10
tap_is "$?" 0 "vcha_promotion_set"
out=$(crm_attribute -N node1 -n master-colo-test -l reboot -G -q 2>/dev/null)
tap_is "$out" 10 "the promotion score is in the CIB"
OCF_RESOURCE_INSTANCE=colo-test "$TOOL" unpromote
tap_is "$?" 0 "vcha_promotion_delete"
crm_attribute -N node1 -n master-colo-test -l reboot -G -q > /dev/null 2>&1
tap_is "$?" 105 "the promotion score is gone (crm_attribute: no such attribute)"

# --- dnsswitch run by Pacemaker
cluster1_agent vcha dnsswitch "$top_builddir/agents/dnsswitch"
cibadmin -C -o resources -X "
<primitive id='www-dns' class='ocf' provider='vcha' type='dnsswitch'>
  <instance_attributes id='www-dns-params'>
    <nvpair id='p1' name='name' value='$NAME'/>
    <nvpair id='p2' name='address_attribute' value='web-address'/>
    <nvpair id='p3' name='server' value='127.0.0.1'/>
    <nvpair id='p4' name='port' value='$NAMED_PORT'/>
    <nvpair id='p5' name='keyfile' value='$NAMED_KEYFILE'/>
  </instance_attributes>
  <operations>
    <op id='www-dns-monitor' name='monitor' interval='2s' timeout='20s'/>
  </operations>
</primitive>"
tap_is "$?" 0 "the resource is created"
cluster1_wait 30 sh -c "dig +short -p $NAMED_PORT @127.0.0.1 $NAME A | grep -qx 198.18.0.51"
tap_ok $? "Pacemaker started it: the name points to the node's address"
crm_resource --locate -r www-dns 2>&1 | grep -q "running on: node1"
tap_ok $? "crm_resource sees it running on node1"

# --- utilization of a resource
util() { crm_resource --resource www-dns --utilization --get-parameter "$1" --quiet 2>/dev/null; }
OCF_RESOURCE_INSTANCE=www-dns "$TOOL" util cpu 2
tap_is "$?" 0 "vcha_utilization_set sets a new one"
tap_is "$(util cpu)" 2 "it is in the CIB"
OCF_RESOURCE_INSTANCE=www-dns "$TOOL" util cpu 4
tap_is "$(util cpu)" 4 "a change is written"
out=$("$TOOL" util cpu 4)
tap_is "$?:$out" "1:-22" "without OCF_RESOURCE_INSTANCE: -EINVAL"

# --- a cluster property of vcha's (a record that outlives every node)
out=$("$TOOL" prop-get vcha-records vcha-active-ct9)
tap_is "$?:$out" "1:-61" "vcha_cluster_prop_get of an unset one: -ENODATA"
"$TOOL" prop-set vcha-records vcha-active-ct9 node7
tap_is "$?" 0 "vcha_cluster_prop_set"
tap_is "$(crm_attribute -t crm_config -s vcha-records -n vcha-active-ct9 -G -q 2>/dev/null)" \
    node7 "it is in the CIB, in its own property set"
tap_is "$(cibadmin -Q -o crm_config | grep -c 'vcha-active-ct9')" 1 \
    "once"
tap_is "$("$TOOL" prop-get vcha-records vcha-active-ct9)" node7 \
    "vcha_cluster_prop_get reads it"
crm_verify -L > "$work/verify" 2>&1
tap_is "$?" 0 "crm_verify takes the CIB with it"
"$TOOL" prop-delete vcha-records vcha-active-ct9
tap_is "$?" 0 "vcha_cluster_prop_delete"
out=$("$TOOL" prop-get vcha-records vcha-active-ct9)
tap_is "$?:$out" "1:-61" "gone"
"$TOOL" prop-delete vcha-records vcha-active-ct9
tap_is "$?" 0 "deleting it again is no error"

attrd_updater -n web-address -U 198.18.0.52
cluster1_wait 30 sh -c "dig +short -p $NAMED_PORT @127.0.0.1 $NAME A | grep -qx 198.18.0.52"
tap_ok $? "a new transient address: monitor fails, Pacemaker restarts it, the name follows"
crm_mon -1 > "$work/mon" 2>&1
grep -q "points to 198.18.0.51, not 198.18.0.52" "$work/mon"
tap_ok $? "the failed monitor's exit reason reaches crm_mon"

crm_resource -r www-dns --meta -p target-role -v Stopped > /dev/null
cluster1_wait 30 sh -c "crm_resource --locate -r www-dns 2>&1 | grep -q 'NOT running'"
tap_ok $? "target-role=Stopped stops it"
tap_is "$(dig +short -p $NAMED_PORT @127.0.0.1 $NAME A)" 198.18.0.52 \
    "the stop left the record in place (unregister_on_stop=false)"
# a re-probe; wait for the probe, then for whatever the cluster does next
crm_resource --refresh -r www-dns > /dev/null 2>&1
probe_xpath="$(last_op_xpath www-dns)[@operation_key='www-dns_monitor_0']"
cluster1_wait 30 cibadmin -Q -o status -A "$probe_xpath"
timeout 60 crm_resource --wait > /dev/null 2>&1
tap_is "$(last_op www-dns)" "www-dns_monitor_0 rc-code=7" \
    "the re-probe reported it not running, and nothing followed the probe"
crm_mon -1 2>&1 | grep -q "Failed Resource Actions"
tap_is "$?" 1 "and the re-probe recorded no failure"

# --- fence_vcha_libvirt driven by Pacemaker's fencer (stonith_admin), over
# libvirt's test driver: vmhost1 is the running domain vm-on, vmhost2 the
# shut-off vm-off, ghost a domain that does not exist
cat > "$work/node.xml" <<XML
<node>
  <cpu><mhz>2000</mhz><model>x86</model><active>2</active><nodes>1</nodes>
    <sockets>1</sockets><cores>2</cores><threads>1</threads></cpu>
  <memory>2097152</memory>
  <domain type='test' xmlns:test='http://libvirt.org/schemas/domain/test/1.0'>
    <name>vm-on</name><memory>65536</memory><vcpu>1</vcpu>
    <os><type>hvm</type></os>
  </domain>
  <domain type='test' xmlns:test='http://libvirt.org/schemas/domain/test/1.0'>
    <name>vm-off</name><memory>65536</memory><vcpu>1</vcpu>
    <os><type>hvm</type></os><test:runstate>5</test:runstate>
  </domain>
</node>
XML
cluster1_fence_agent fence_vcha_libvirt "$top_builddir/stonith/fence_vcha_libvirt"
stonith_admin --metadata -a fence_vcha_libvirt > "$work/meta.xml" 2>&1
grep -q '<resource-agent name="fence_vcha_libvirt"' "$work/meta.xml"
tap_ok $? "stonith_admin --metadata finds the agent"
cibadmin -C -o resources -X "
<primitive id='fence-vms' class='stonith' type='fence_vcha_libvirt'>
  <instance_attributes id='fence-vms-params'>
    <nvpair id='f1' name='uri' value='test://$work/node.xml'/>
    <nvpair id='f2' name='pcmk_host_map' value='vmhost1:vm-on;vmhost2:vm-off;ghost:nosuch'/>
    <nvpair id='f3' name='power_timeout' value='5'/>
  </instance_attributes>
  <operations>
    <op id='fence-vms-monitor' name='monitor' interval='60s'/>
  </operations>
</primitive>"
cluster1_wait 30 sh -c "stonith_admin --list-registered | grep -q fence-vms"
tap_ok $? "the fencer registers the device"
cluster1_wait 30 sh -c "crm_resource --locate -r fence-vms 2>&1 | grep -q 'running on'"
tap_ok $? "its monitor (a real connection) succeeds: the device is started"
stonith_admin --reboot vmhost1 --timeout 30 > "$work/fence.out" 2>&1
tap_is "$?" 0 "stonith_admin --reboot vmhost1 succeeds"
stonith_admin --history vmhost1 2>&1 | grep -q "reboot of vmhost1 successful"
tap_ok $? "the fence history records it"
stonith_admin --fence vmhost2 --timeout 30 > "$work/fence.out" 2>&1
tap_is "$?" 0 "stonith_admin --fence vmhost2 (off; already off) succeeds"
stonith_admin --fence ghost --timeout 30 > "$work/fence.out" 2>&1
tap_ok $([ $? -ne 0 ]; echo $?) "fencing a domain that does not exist fails"
grep -q "no domain nosuch at test://" /var/log/pacemaker/pacemaker.log
tap_ok $? "and the agent's reason is in Pacemaker's log"

[ "$tap_failed" -eq 0 ] || cluster1_logs
tap_done
