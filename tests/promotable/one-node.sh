#!/bin/bash
# Under this machine's own Pacemaker, in a one-node cluster: the promotable
# test agent (statetest) as a promotable clone with notifications.  What
# this Pacemaker sets for a clone instance and a notification, in the names
# it uses; the instance promoted by its promotion score; its promoted
# monitor; a failure in the promoted role.  (The cluster lab's scenario 7
# does the same on two nodes with the lab's Pacemaker.)
set -u
. "$top_srcdir/tests/lib/tap.sh"
. "$top_srcdir/tests/lib/cluster1.sh"

[ "$(id -u)" = 0 ] || tap_skip_all "a cluster in namespaces needs root"
for prog in corosync pacemakerd cibadmin crm_mon crm_attribute unshare ip; do
    command -v "$prog" > /dev/null || tap_bail "$prog missing: install pacemaker corosync"
done
cluster1_enter "$@"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export D=$work/state
cluster1_start "$work/cluster" || { cluster1_logs; tap_bail "the cluster did not start"; }
cluster1_agent vchatest statetest "$top_builddir/tests/promotable/statetest"
tap_diag "$(pacemakerd --version | head -1)"

cibadmin -C -o resources -X "
<clone id='st-clone'>
  <meta_attributes id='st-clone-meta'>
    <nvpair id='st-clone-promotable' name='promotable' value='true'/>
    <nvpair id='st-clone-clone-max' name='clone-max' value='1'/>
    <nvpair id='st-clone-promoted-max' name='promoted-max' value='1'/>
    <nvpair id='st-clone-notify' name='notify' value='true'/>
  </meta_attributes>
  <primitive id='st' class='ocf' provider='vchatest' type='statetest'>
    <instance_attributes id='st-params'>
      <nvpair id='st-dir' name='dir' value='$D'/>
    </instance_attributes>
    <operations>
      <op id='st-monitor-promoted' name='monitor' interval='2s' role='Promoted' timeout='20s'/>
      <op id='st-monitor-unpromoted' name='monitor' interval='3s' role='Unpromoted' timeout='20s'/>
    </operations>
  </primitive>
</clone>"
tap_ok $? "a promotable clone with notify=true is created"
promoted() { [ "$(cat "$D/role" 2> /dev/null)" = Promoted ] && crm_mon -1 | grep -q "Promoted: \[ node1 \]"; }
# cluster1_wait runs a program: the checks are exported to bash -c
export -f promoted
cluster1_wait 60 bash -c promoted
tap_ok $? "its instance is promoted, by the promotion score it set"
tap_is "$(crm_attribute -N node1 -l reboot -n master-st -G -q 2> /dev/null)" 10 \
    "the promotion score (master-st) is 10"
monitored() { grep -q " monitor interval=2000 role=[A-Za-z]* rc=8$" "$D/calls"; }
export -f monitored
cluster1_wait 20 bash -c monitored
tap_ok $? "the promoted monitor (2 s) returns OCF_RUNNING_PROMOTED (8)"
role=$(sed -n 's/.* monitor interval=2000 role=\([A-Za-z]*\) rc=8$/\1/p' "$D/calls" | head -1)
tap_diag "a promoted monitor gets CRM_meta_role=$role"
tap_like "$role" "@(Promoted|Master)" "it is told its role"

pre=$(grep -m1 " type=pre op=promote " "$D/notify")
post=$(grep -m1 " type=post op=promote " "$D/notify")
tap_like "$pre" "* promote_resource=st:0 promote_uname=node1 *" "pre-promote notification: promote st:0 on node1"
tap_like "$post" "* promote_uname=node1 * unpromoted_uname=node1 *" "post-promote notification: node1 was unpromoted"
tap_ok "$(grep -q " type=post op=start .*start_uname=node1 " "$D/notify"; echo $?)" "post-start notification: start on node1"

# the variables as this Pacemaker names them
names=$(sed -n 's/^  OCF_RESKEY_CRM_meta_\([a-z_]*\)=.*/\1/p' "$D/notify-env" | sort -u)
tap_diag "meta variables of a notification: $(echo $names)"
for v in clone clone_max clone_node_max promoted_max promoted_node_max notify \
    globally_unique notify_type notify_operation notify_promoted_uname \
    notify_unpromoted_uname notify_master_uname notify_slave_uname \
    notify_inactive_resource notify_all_uname; do
    grep -qx "$v" <<< "$names"
    tap_ok $? "a notification gets OCF_RESKEY_CRM_meta_$v"
done
tap_is "$(cat "$D/clone")" \
    "instance=0 clone_max=1 clone_node_max=1 promoted_max=1 promoted_node_max=1 notify=1 globally_unique=0" \
    "the runtime reads the clone meta attributes"

touch "$D/fail-promoted"
failed() { crm_mon -1 --output-as=xml | grep "<failure " | grep 'exitcode="9"' | grep -q "monitor_2000"; }
export -f failed
cluster1_wait 20 bash -c failed
tap_ok $? "a failed promoted monitor is recorded with exit code 9"
tap_diag "$(crm_mon -1 | grep -A1 'Failed Resource Actions' | tail -1 | sed 's/^ *//')"
cluster1_wait 30 sh -c "grep -q ' demote ' '$D/calls' && grep -q ' stop ' '$D/calls'" &&
    cluster1_wait 30 bash -c promoted
tap_ok $? "the instance is demoted, restarted and promoted again"

cibadmin -D -X "<clone id='st-clone'/>"
cluster1_wait 30 sh -c "! test -e '$D/role'"
tap_ok $? "deleting the clone stops its instance"
tap_is "$(crm_attribute -N node1 -l reboot -n master-st -G -q 2> /dev/null)" "" \
    "and its promotion score is gone"
tap_done
