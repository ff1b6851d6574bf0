#!/bin/sh
# The in-VM container set of seed 000 on the standby VMs: a clone of
# ocf:vcha:ctset on every node marked vcha-standby=true (a permanent node
# attribute), holding an LXC container per protected service: web hot
# (running with its services), db warm (running; its database started at
# activation), batch cold (booted at activation).  Their primaries push
# their trees to rsync://vcha@198.18.0.5:8730/NAME (vchad's filesync job).
#
# Run on a cluster node, or against a CIB file: CIB=cib.xml sh pcs.sh
# Every standby VM: the bridge br0 on 198.18.0.0/24, lxc and rsync
# installed, /etc/vcha/rsyncd.secrets (vcha:SECRET, root's, mode 0600);
# receiver_address is the address the standby VM listens on; with several
# standby VMs, 0.0.0.0 (every address of each) with hosts_allow limiting
# who may push.
set -e
pcs() { command pcs ${CIB:+-f "$CIB"} "$@"; }

pcs resource create standby-set ocf:vcha:ctset \
    members="web:hot:198.18.0.60/24 db:warm:198.18.0.61/24 batch:cold:198.18.0.62/24" \
    bridge=br0 gateway=198.18.0.1 receiver_address=198.18.0.5 \
    secrets_file=/etc/vcha/rsyncd.secrets hosts_allow=198.18.0.0/24 \
    op monitor interval=10s timeout=60s \
    clone interleave=true

# only on the standby VMs
pcs constraint location standby-set-clone rule score=-INFINITY \
    not_defined vcha-standby or vcha-standby ne true
