#!/bin/bash
# The lab's promotable test agent without a cluster: its meta-data, its role
# file, the promotion scores it sets (a stand-in crm_attribute records
# them), its monitor per role, a failure of the promoted monitor when told,
# and what it records of a notification.
set -u
. "$top_srcdir/tests/lib/tap.sh"

AGENT=$top_builddir/tests/promotable/statetest
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir "$work/bin"
cat > "$work/bin/crm_attribute" <<EOF
#!/bin/sh
echo "\$*" >> "$work/crm_attribute.args"
EOF
chmod 755 "$work/bin/crm_attribute"
dir=$work/state
RA_ENV=(PATH="$work/bin:$PATH" OCF_RESOURCE_INSTANCE=st OCF_RESKEY_dir="$dir"
    OCF_RESKEY_CRM_meta_clone=0 OCF_RESKEY_CRM_meta_clone_max=2
    OCF_RESKEY_CRM_meta_clone_node_max=1 OCF_RESKEY_CRM_meta_promoted_max=1
    OCF_RESKEY_CRM_meta_promoted_node_max=1 OCF_RESKEY_CRM_meta_notify=true
    OCF_RESKEY_CRM_meta_globally_unique=false OCF_RESKEY_CRM_meta_on_node=node1
    HA_LOGFILE=/dev/null HA_debug=0)
last_score() { tail -n 1 "$work/crm_attribute.args" 2> /dev/null; }
promoted_monitor=(OCF_RESKEY_CRM_meta_interval=5000 OCF_RESKEY_CRM_meta_role=Promoted)
unpromoted_monitor=(OCF_RESKEY_CRM_meta_interval=7000 OCF_RESKEY_CRM_meta_role=Unpromoted)

# meta-data: both monitors with their roles, the promotable actions
ra meta-data
tap_is "$RA_RC" 0 "meta-data exits 0"
if [ -n "${XMLLINT:-}" ] && [ -n "${RA_API_DTD:-}" ] && [ -r "$RA_API_DTD" ]; then
    echo "$RA_OUT" | "$XMLLINT" --noout --dtdvalid "$RA_API_DTD" - 2> "$work/xmllint"
    tap_ok $? "meta-data is valid against ra-api-1.dtd"
else
    tap_ok 0 "meta-data is valid against ra-api-1.dtd # SKIP no xmllint or DTD"
fi
roles=$(echo "$RA_OUT" | grep -o '<action name="monitor"[^>]*>' |
    sed 's/.*interval="\([^"]*\)".*role="\([^"]*\)".*/\2 \1/' | tr '\n' ' ')
tap_is "$roles" "Promoted 5s Unpromoted 7s " "a monitor per role, 5 s promoted and 7 s unpromoted"
for a in promote demote notify; do
    echo "$RA_OUT" | grep -q "<action name=\"$a\"" && rc=0 || rc=1
    tap_ok $rc "meta-data lists $a"
done

ra monitor OCF_RESKEY_CRM_meta_interval=0
tap_is "$RA_RC" 7 "probe before start: not running"
ra start
tap_is "$RA_RC:$(cat "$dir/role")" "0:Unpromoted" "start: unpromoted"
tap_is "$(last_score)" "--promotion -v 5" "start sets promotion score 5"
tap_is "$(cat "$dir/clone")" \
    "instance=0 clone_max=2 clone_node_max=1 promoted_max=1 promoted_node_max=1 notify=1 globally_unique=0" \
    "start records the clone meta attributes"
ra monitor "${unpromoted_monitor[@]}"
tap_is "$RA_RC" 0 "unpromoted monitor: 0"
ra promote
tap_is "$RA_RC:$(cat "$dir/role")" "0:Promoted" "promote: promoted"
tap_is "$(last_score)" "--promotion -v 10" "promote sets promotion score 10"
ra monitor "${promoted_monitor[@]}"
tap_is "$RA_RC" 8 "promoted monitor: OCF_RUNNING_PROMOTED (8)"
touch "$dir/fail-promoted"
ra monitor "${promoted_monitor[@]}"
tap_is "$RA_RC" 9 "told to fail: OCF_FAILED_PROMOTED (9)"
tap_like "$RA_REASON" "told to fail*" "with an exit reason"
tap_ok "$([ ! -e "$dir/fail-promoted" ]; echo $?)" "the failure is reported once"
ra monitor "${promoted_monitor[@]}"
tap_is "$RA_RC" 8 "the next promoted monitor: 8 again"

ra notify OCF_RESKEY_CRM_meta_notify_type=pre OCF_RESKEY_CRM_meta_notify_operation=demote \
    OCF_RESKEY_CRM_meta_notify_demote_resource="st:0 " OCF_RESKEY_CRM_meta_notify_demote_uname="node1 " \
    OCF_RESKEY_CRM_meta_notify_master_uname="node1 " OCF_RESKEY_CRM_meta_notify_all_uname="node1 node2"
tap_is "$RA_RC" 0 "notify: 0"
line=$(tail -n 1 "$dir/notify")
tap_like "$line" "* node1 type=pre op=demote *" "the notification's type and operation are recorded"
tap_like "$line" "* demote_resource=st:0 demote_uname=node1 *" "with its demote lists"
tap_like "$line" "* promoted_resource=- promoted_uname=node1 *" "the deprecated master list read as promoted"
tap_like "$line" "* all_resource=- all_uname=node1,node2 *" "and the other lists"
grep -q "^  OCF_RESKEY_CRM_meta_notify_master_uname=node1 $" "$dir/notify-env"
tap_ok $? "the notification's variables are recorded as set"
ra notify OCF_RESKEY_CRM_meta_notify_type=now OCF_RESKEY_CRM_meta_notify_operation=demote
tap_is "$RA_RC" 1 "a malformed notification fails"

ra demote
tap_is "$RA_RC:$(cat "$dir/role")" "0:Unpromoted" "demote: unpromoted"
tap_is "$(last_score)" "--promotion -v 5" "demote sets promotion score 5"
ra stop
tap_is "$RA_RC" 0 "stop: 0"
tap_ok "$([ ! -e "$dir/role" ]; echo $?)" "stop removes the role"
tap_is "$(last_score)" "--promotion -D" "stop removes the promotion score"
ra promote
tap_is "$RA_RC" 7 "promote when stopped: not running"
calls=$(awk '{ print $3 "/" $NF }' "$dir/calls" | tr '\n' ' ')
tap_is "$calls" "monitor/rc=7 start/rc=0 monitor/rc=0 promote/rc=0 monitor/rc=8 monitor/rc=9 monitor/rc=8 notify/rc=0 demote/rc=0 stop/rc=0 promote/rc=7 " \
    "every call is recorded with its outcome"
tap_done
