#!/bin/bash
# ocf:vcha:dnsswitch against a real named on 127.0.0.1: start, monitor, stop,
# a failover from one node's address to another's, probes, one fixed address
# on three nodes, starts that fail half-way, keys, a dead server and every
# kind of bad input.  A node is a state directory (HA_RSCTMP); 127.0.0.1 is
# an address of every node, the 198.18.0.x and 2001:db8:: ones of none.
set -u
. "$top_srcdir/tests/lib/tap.sh"
. "$top_srcdir/tests/lib/named.sh"

AGENT=$top_builddir/agents/dnsswitch
NAME=www.vcha.test
A1=198.18.0.10
A2=198.18.0.11
A3=198.18.0.12
A4=198.18.0.13
A6=2001:db8::10
LOCAL=127.0.0.1

for prog in named nsupdate dig tsig-keygen; do
    command -v "$prog" >/dev/null || tap_bail "$prog missing: install bind9 bind9-dnsutils"
done
work=$(mktemp -d)
trap 'kill -CONT "${NAMED_PID:-}" 2>/dev/null; named_stop; rm -rf "$work"' EXIT
named_start "$work/named" || tap_bail "cannot start named"
if command -v ip >/dev/null &&
    ip -o addr show | grep -qE ' (198\.18\.0\.1[0-3]|2001:db8::10)/'; then
    tap_bail "an interface here has one of the addresses the nodes must not have"
fi

# fake_nsupdate DIR COMMAND: DIR/nsupdate runs the real nsupdate, then
# COMMAND (as a fault right after the update reached the server); an agent
# run with DIR first in PATH uses it
fake_nsupdate() {
    mkdir -p "$1"
    printf '#!/bin/bash\n%q "$@"\nrc=$?\n%s\nexit $rc\n' \
        "$(command -v nsupdate)" "$2" > "$1/nsupdate"
    chmod +x "$1/nsupdate"
}

# node_env NODE ADDRESS: the environment Pacemaker would give the agent on
# NODE (each node has its own HA_RSCTMP).
node_env() {
    mkdir -p "$work/$1"
    RA_ENV=(HA_RSCTMP="$work/$1" OCF_RESOURCE_INSTANCE=web-dns
        OCF_RESKEY_name=$NAME OCF_RESKEY_server=127.0.0.1
        OCF_RESKEY_port="$NAMED_PORT" OCF_RESKEY_keyfile="$NAMED_KEYFILE"
        OCF_RESKEY_address="$2" OCF_RESKEY_CRM_meta_timeout=10000
        OCF_RESKEY_CRM_meta_interval=10000)
}
probe() { ra monitor OCF_RESKEY_CRM_meta_interval=0 "$@"; }

# --- the normal life of the resource on node1
node_env node1 $A1
ra validate-all
tap_is "$RA_RC" 0 "validate-all accepts a good configuration"
probe
tap_is "$RA_RC" 7 "probe before start: not running"
tap_like "$RA_REASON" "*not started on this node, and $A1 is not one of its addresses*" \
    "probe says why"
ra start
tap_is "$RA_RC" 0 "start"
tap_is "$(named_lookup $NAME A)" "$A1" "the server now resolves the name to node1"
ttl=$(dig +norecurse +noall +answer -p "$NAMED_PORT" @127.0.0.1 $NAME A | awk '{print $2}')
tap_is "$ttl" 30 "the record has the default ttl"
ra monitor
tap_is "$RA_RC" 0 "monitor after start: running"
probe
tap_is "$RA_RC" 0 "probe after start: running"
ra start
tap_is "$RA_RC" 0 "start again is idempotent"
tap_is "$(named_lookup $NAME A)" "$A1" "still exactly one record after a second start"

# --- with the logging environment pacemaker-execd gives agents
ra monitor HA_LOGFACILITY=daemon HA_LOGFILE="$work/ha.log" HA_debug=1
tap_is "$RA_RC" 0 "monitor with HA_LOGFACILITY, HA_LOGFILE and HA_debug set"
grep -q "dnsswitch(web-dns).*debug: monitor returned OCF_SUCCESS" "$work/ha.log"
tap_ok $? "HA_LOGFILE gets the agent's messages, debug ones with HA_debug=1"
ra monitor HA_LOGFACILITY=daemon HA_LOGFILE="$work/ha0.log" HA_debug=0
grep -q "debug:" "$work/ha0.log"
tap_is "$?" 1 "no debug messages with HA_debug=0"
tap_is "$RA_ERR" "" "nothing on stderr when a log file and facility are set"

# --- failover: node2 takes the name over
node_env node2 $A2
probe
tap_is "$RA_RC" 7 "probe on node2 while the name points to node1"
ra start
tap_is "$RA_RC" 0 "start on node2"
tap_is "$(named_lookup $NAME A)" "$A2" "the name now points to node2, and only to it"
node_env node1 $A1
ra monitor
tap_is "$RA_RC" 7 "node1's monitor sees the name point elsewhere"
tap_like "$RA_REASON" "*points to $A2, not $A1*" "and says where"
ra stop
tap_is "$RA_RC" 0 "stop on node1 (default: leave the record)"
tap_is "$(named_lookup $NAME A)" "$A2" "node1's stop left node2's record alone"

# --- a reboot of node2 (its state directory is gone): it no longer runs the
# resource, although the name still points to its address (none of its own)
rm -rf "$work/node2"
node_env node2 $A2
probe
tap_is "$RA_RC" 7 "probe after a reboot: not running, whatever the record says"
tap_is "$(named_lookup $NAME A)" "$A2" "the probe left the record alone"

# --- stop, then monitor
ra stop
tap_is "$RA_RC" 0 "stop on node2"
tap_is "$(named_lookup $NAME A)" "$A2" "default stop keeps the record"
ra monitor
tap_is "$RA_RC" 7 "monitor after stop: not running"
probe
tap_is "$RA_RC" 7 "probe after stop: not running"
ra stop
tap_is "$RA_RC" 0 "stop of a stopped resource succeeds"
ra start
tap_is "$RA_RC" 0 "start after stop"
ra monitor
tap_is "$RA_RC" 0 "monitor after restart: running"

# --- unregister_on_stop
ra stop OCF_RESKEY_unregister_on_stop=true
tap_is "$RA_RC" 0 "stop with unregister_on_stop"
tap_is "$(named_lookup $NAME A)" "" "the record is gone"
ra start OCF_RESKEY_unregister_on_stop=true
named_set $NAME A $A1 >/dev/null
ra stop OCF_RESKEY_unregister_on_stop=true
tap_is "$RA_RC" 0 "unregistering stop succeeds when another node owns the name"
tap_is "$(named_lookup $NAME A)" "$A1" "and leaves the other node's record in place"

# --- one fixed address on three nodes: the address is the same everywhere,
# so only the node that started the resource reports it running, and a stop
# elsewhere leaves the record alone
node_env nodeA $A3
ra start OCF_RESKEY_unregister_on_stop=true
tap_is "$RA_RC" 0 "fixed address: start on node A"
node_env nodeB $A3
probe OCF_RESKEY_unregister_on_stop=true
tap_is "$RA_RC" 7 "fixed address: probe on node B, which never started it: not running"
tap_like "$RA_REASON" "*not started on this node*" "node B's probe says why"
node_env nodeC $A3
probe OCF_RESKEY_unregister_on_stop=true
tap_is "$RA_RC" 7 "fixed address: probe on node C: not running"
node_env nodeB $A3
ra stop OCF_RESKEY_unregister_on_stop=true
tap_is "$RA_RC" 0 "fixed address: stop on node B succeeds"
tap_is "$(named_lookup $NAME A)" "$A3" "node B's stop did not touch node A's record"
node_env nodeA $A3
ra monitor OCF_RESKEY_unregister_on_stop=true
tap_is "$RA_RC" 0 "node A's monitor still reports running"
node_env nodeC $A3
ra start OCF_RESKEY_unregister_on_stop=true OCF_RESKEY_keyfile="$NAMED_BADKEY"
tap_is "$RA_RC" 2 "fixed address: the server refuses a start on node C"
ra stop OCF_RESKEY_unregister_on_stop=true
tap_is "$(named_lookup $NAME A)" "$A3" "the stop after it has nothing to undo"
rm -rf "$work/nodeA"
node_env nodeA $A3
probe OCF_RESKEY_unregister_on_stop=true
tap_is "$RA_RC" 7 "after a reboot node A does not run it either"
ra start OCF_RESKEY_unregister_on_stop=true
ra stop OCF_RESKEY_unregister_on_stop=true
tap_is "$RA_RC" 0 "fixed address: start and stop on node A"
tap_is "$(named_lookup $NAME A)" "" "the stop of the node that started it removes the record"

# --- an address of this node (127.0.0.1): with no local state, as after a
# reboot, the probe tells the truth from the record
node_env nodeL $LOCAL
named_set $NAME A $A3 >/dev/null
probe
tap_is "$RA_RC" 7 "own address: probe while the name points elsewhere"
tap_like "$RA_REASON" "*points to $A3, not $LOCAL*" "the probe names both addresses"
named_set $NAME A $LOCAL >/dev/null
probe
tap_is "$RA_RC" 0 "own address: probe while the name points here: running"
ra stop OCF_RESKEY_unregister_on_stop=true
tap_is "$RA_RC" 0 "own address: stop"
tap_is "$(named_lookup $NAME A)" "" "the stop removed the record that pointed here"
named_set $NAME A $LOCAL >/dev/null
probe
tap_is "$RA_RC" 7 "own address: after a stop, the probe reports not running"

# --- a start that fails after its update reached the server (the server
# stops answering just then, so the start cannot check the record): the stop
# that follows removes the record
# (a group stop takes effect thread by thread: wait until no thread of named
# is left running, or one may still answer the start's check)
fake_nsupdate "$work/hang" "kill -STOP $NAMED_PID
while [ -n \"\$(grep -L '^State:.*[tT]' /proc/$NAMED_PID/task/*/status)\" ]; do
    sleep 0.01
done"
node_env node5 $A4
ra start
ra stop
tap_is "$(named_lookup $NAME A)" "$A4" "node5 ran the resource once and left the record"
named_set $NAME A $A3 >/dev/null # another node has taken the name since
ra start PATH="$work/hang:$PATH" OCF_RESKEY_CRM_meta_timeout=4000
tap_is "$RA_RC" 1 "a start that cannot check its update fails"
kill -CONT "$NAMED_PID"
tap_is "$(named_lookup $NAME A)" "$A4" "although its update took"
ra stop OCF_RESKEY_unregister_on_stop=true
tap_is "$RA_RC" 0 "stop after the failed start"
tap_is "$(named_lookup $NAME A)" "" "the stop after the failed start removed the record"

# --- the agent killed right after its update, as at a start timeout (the
# program's parent is the keeper of its process group; the agent, its)
fake_nsupdate "$work/killed" 'kill -KILL $(ps -o ppid= -p $PPID)'
node_env node6 $A4
ra start
ra stop
named_set $NAME A $A3 >/dev/null
ra start PATH="$work/killed:$PATH"
tap_is "$RA_RC" 137 "the agent was killed right after its update"
tap_is "$(named_lookup $NAME A)" "$A4" "its update took"
ra stop OCF_RESKEY_unregister_on_stop=true
tap_is "$RA_RC" 0 "stop after the killed start"
tap_is "$(named_lookup $NAME A)" "" "the stop after the killed start removed the record"

# --- a start that cannot note that it ran here changes nothing
named_set $NAME A $A3 >/dev/null
: > "$work/not-a-directory"
node_env node7 $A4
ra start HA_RSCTMP="$work/not-a-directory/node7"
tap_is "$RA_RC" 1 "a start with an unusable state directory fails"
tap_like "$RA_REASON" "*cannot record the start*" "and says why"
tap_is "$(named_lookup $NAME A)" "$A3" "before any update"
ra stop HA_RSCTMP="$work/not-a-directory/node7" OCF_RESKEY_unregister_on_stop=true
tap_is "$RA_RC" 0 "and its stop succeeds"
tap_is "$(named_lookup $NAME A)" "$A3" "without touching the record"

# --- IPv6: AAAA, and switching families replaces the old record
node_env node3 $A6
ra start
tap_is "$RA_RC" 0 "start with an IPv6 address"
tap_is "$(named_lookup $NAME AAAA)" "$A6" "AAAA record published"
tap_is "$(named_lookup $NAME A)" "" "the old A record was removed in the same update"
ra monitor
tap_is "$RA_RC" 0 "monitor of the AAAA record"
node_env node1 $A1
ra start
tap_is "$RA_RC" 0 "back to IPv4"
tap_is "$(named_lookup $NAME AAAA)" "" "the AAAA record is gone"

# --- explicit zone, a different ttl
ra start OCF_RESKEY_zone=vcha.test OCF_RESKEY_ttl=120
tap_is "$RA_RC" 0 "start with an explicit zone and ttl"
ttl=$(dig +norecurse +noall +answer -p "$NAMED_PORT" @127.0.0.1 $NAME A | awk '{print $2}')
tap_is "$ttl" 120 "ttl parameter honoured"
ra start OCF_RESKEY_zone=other.test
tap_is "$RA_RC" 2 "a zone the server does not serve is a hard error"
tap_like "$RA_REASON" "*refused*NOTAUTH*zone*" "with the server's answer and a hint"

# --- keys
before=$(named_lookup $NAME A)
tap_is "$before" "$A1" "before the key tests the name points to node1"
node_env node2 $A2
ra start OCF_RESKEY_keyfile="$NAMED_BADKEY"
tap_is "$RA_RC" 2 "a wrong TSIG key is a hard error on this node (OCF_ERR_ARGS)"
tap_like "$RA_REASON" "*refused the update*keyfile*" "the reason points at the key"
tap_is "$(named_lookup $NAME A)" "$before" "a refused update changed nothing"
cp "$NAMED_KEYFILE" "$work/open.key"
chmod 644 "$work/open.key"
ra start OCF_RESKEY_keyfile="$work/open.key"
tap_is "$RA_RC" 2 "a key readable by others is refused"
tap_like "$RA_REASON" "*readable by group or others*" "and the reason says so"
ra validate-all OCF_RESKEY_keyfile="$work/open.key" OCF_CHECK_LEVEL=10
tap_is "$RA_RC" 2 "validate-all at level 10 checks the key"
ra validate-all OCF_RESKEY_keyfile="$work/open.key" OCF_CHECK_LEVEL=0
tap_is "$RA_RC" 0 "validate-all at level 0 does not look at files"
ra start OCF_RESKEY_keyfile="$work/missing.key"
tap_is "$RA_RC" 5 "a missing key file is OCF_ERR_INSTALLED"
ra start OCF_RESKEY_keyfile=
tap_is "$RA_RC" 2 "an unsigned update is refused by the server"
tap_is "$(named_lookup $NAME A)" "$before" "nothing changed by the failed starts"

# --- address from a node attribute, without a cluster: a clear failure
# (tests/pacemaker/one-node.sh runs address_attribute in a real cluster)
node_env node4 $A1
ra start OCF_RESKEY_address= OCF_RESKEY_address_attribute=web-address
tap_is "$RA_RC" 1 "address_attribute with no cluster to ask fails the start"
tap_like "$RA_REASON" "*cannot read node attribute 'web-address'*" "naming the attribute"
probe OCF_RESKEY_address= OCF_RESKEY_address_attribute=web-address
tap_is "$RA_RC" 1 "and the probe says it cannot tell"

# --- bad input
bad() { # bad EXPECTED_RC PATTERN DESCRIPTION VAR=VALUE...
    local rc=$1 pat=$2 desc=$3
    shift 3
    ra validate-all "$@"
    tap_is "$RA_RC" "$rc" "validate-all: $desc"
    tap_like "$RA_REASON" "$pat" "reason for: $desc"
    ra start "$@"
    tap_is "$RA_RC" "$rc" "start: $desc"
}
node_env node1 $A1
bad 6 "*'name'*not fully qualified*" "single-label name" OCF_RESKEY_name=www
bad 6 "*'name'*" "name with a space" "OCF_RESKEY_name=w w.vcha.test"
bad 6 "*'name'*empty label*" "name with an empty label" OCF_RESKEY_name=www..vcha.test
bad 6 "*'name'*63 bytes*" "label too long" \
    OCF_RESKEY_name=$(printf 'a%.0s' $(seq 64)).vcha.test
bad 6 "*'name'*is not set*" "name missing" OCF_RESKEY_name=
bad 6 "*'address'*neither an IPv4 nor an IPv6*" "address not an address" \
    OCF_RESKEY_address=198.18.0.300
bad 6 "*only one of 'address' and 'address_attribute'*" "both address forms" \
    OCF_RESKEY_address_attribute=web-address
bad 6 "*one of 'address' or 'address_attribute' is required*" \
    "neither address form" OCF_RESKEY_address=
bad 6 "*'server'*is not set*" "server missing" OCF_RESKEY_server=
bad 6 "*'port'*between 1 and 65535*" "port out of range" OCF_RESKEY_port=70000
bad 6 "*'ttl'*whole number*" "ttl not a number" OCF_RESKEY_ttl=30s
bad 6 "*'ttl'*between*" "negative ttl" OCF_RESKEY_ttl=-1
bad 6 "*'unregister_on_stop'*boolean*" "bad boolean" \
    OCF_RESKEY_unregister_on_stop=maybe
bad 6 "*'keyfile'*absolute path*" "relative key path" OCF_RESKEY_keyfile=key.conf
tap_is "$(named_lookup $NAME A)" "$before" "no bad input changed the record"

# --- the server is down
named_stop
node_env node1 $A1
ra monitor OCF_RESKEY_CRM_meta_timeout=4000
tap_is "$RA_RC" 1 "monitor with the server down: OCF_ERR_GENERIC"
tap_like "$RA_REASON" "*did not answer*" "monitor says the server did not answer"
ra start OCF_RESKEY_CRM_meta_timeout=4000
tap_is "$RA_RC" 1 "start with the server down fails"
ra stop OCF_RESKEY_unregister_on_stop=true OCF_RESKEY_CRM_meta_timeout=4000
tap_is "$RA_RC" 0 "stop with the server down still succeeds"

tap_done
