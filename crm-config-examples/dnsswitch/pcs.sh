#!/bin/sh
# www.example.com follows the web service: each node publishes its own
# address (no shared subnet, so no floating IP), and dnsswitch points the name
# at the node where the service runs.
#
# Run on a cluster node, or against a CIB file: CIB=cib.xml sh pcs.sh
# The key: tsig-keygen -a hmac-sha256 www-update > /etc/vcha/www.key;
# chmod 600 /etc/vcha/www.key; same file on every node; the zone's
# update-policy grants www-update the name www.example.com.
set -e
pcs() { command pcs ${CIB:+-f "$CIB"} "$@"; }

# Each node's public address, as a permanent node attribute.
pcs node attribute node1 web-address=198.51.100.11
pcs node attribute node2 web-address=203.0.113.12

# The service, then the name; a group keeps them together and in order:
# the name moves only once the service runs on the new node.
pcs resource create web ocf:heartbeat:nginx \
    configfile=/etc/nginx/nginx.conf \
    op monitor interval=10s timeout=30s
pcs resource create www-dns ocf:vcha:dnsswitch \
    name=www.example.com address_attribute=web-address \
    server=192.0.2.53 keyfile=/etc/vcha/www.key ttl=30 \
    op monitor interval=10s timeout=20s
pcs resource group add www web www-dns
