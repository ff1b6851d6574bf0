#!/bin/sh
# A QEMU guest run as a COLO pair on node1 and node2: the promoted instance
# runs the guest, the unpromoted one a replica that QEMU keeps in step by
# checkpoints over the replication link (10.0.0.1 on node1, 10.0.0.2 on
# node2: each node uses the address it has).  Clients reach the guest's
# web server through each node's host forward (port 80 on 0.0.0.0), and
# www.example.com follows the promoted instance: dnsswitch, colocated with
# the Promoted role and started after the promotion, points the name at
# the promoted node's public address (a permanent node attribute).
# A demote or stop presses the guest's power button and ends QEMU when it
# has not powered off within 60 s.  The checkpoint policy is colo (on
# stock QEMU the best one: README, "COLO VM pairs").
#
# Run on a cluster node, or against a CIB file: CIB=cib.xml sh pcs.sh
# Every node: the guest's disk at /var/lib/vcha/colo/web.raw (the same
# data), QEMU 11.1 or later, qemu-img, and room in /run/vcha/colo (tmpfs)
# for twice the disk's size.
set -e
pcs() { command pcs ${CIB:+-f "$CIB"} "$@"; }

pcs node attribute node1 web-address=198.51.100.11
pcs node attribute node2 web-address=203.0.113.12

pcs resource create web-colo ocf:vcha:colo \
    disk=/var/lib/vcha/colo/web.raw format=raw memory=2048 cpus=2 \
    forward=0.0.0.0:80:80 replication_address="10.0.0.1 10.0.0.2" \
    base_port=9300 active_hidden_dir=/run/vcha/colo policy=colo \
    shutdown_timeout=60s \
    op monitor interval=9s role=Promoted timeout=30s \
    op monitor interval=10s role=Unpromoted timeout=30s \
    op start timeout=60s op stop timeout=120s \
    op promote timeout=60s op demote timeout=120s \
    promotable notify=true clone-max=2 clone-node-max=1 \
    promoted-max=1 promoted-node-max=1
pcs resource create www-dns ocf:vcha:dnsswitch \
    name=www.example.com address_attribute=web-address \
    server=192.0.2.53 keyfile=/etc/vcha/www.key ttl=30 \
    op monitor interval=10s timeout=20s
pcs constraint colocation add www-dns with Promoted web-colo-clone INFINITY
pcs constraint order promote web-colo-clone then start www-dns
