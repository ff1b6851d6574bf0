#!/bin/sh
# A QEMU VM that any node can run, its disk on storage every node reaches
# (here a shared LVM volume group or a cluster file system: not shown).
# The domain XML is the same file on every node.  A move is a live
# migration over the nodes' migration network (node1-mig, node2-mig),
# paused for at most 300 ms at its end and sending at most 500 MiB/s.
# A stop presses the guest's power button (ACPI) and destroys the domain
# when it has not shut down within 60 s.
# Every 10 s the domain's state; every 30 s (OCF_CHECK_LEVEL=10) also the
# health vchad judges from outside the guest (hung, spinning, panicked);
# every 60 s (OCF_CHECK_LEVEL=20) also a TCP connection to the guest's
# HTTPS port (probe_tcp).
#
# Run on a cluster node, or against a CIB file: CIB=cib.xml sh pcs.sh
# Every node: /etc/libvirt/vcha/web.xml, libvirtd, and an ssh key that lets
# each node's libvirtd reach the others' (migration_transport=ssh).
set -e
pcs() { command pcs ${CIB:+-f "$CIB"} "$@"; }

pcs resource create web-vm ocf:vcha:vm \
    config=/etc/libvirt/vcha/web.xml domain=web \
    hypervisor=qemu:///system shutdown_mode=acpi shutdown_timeout=60s \
    migration_transport=ssh migration_network_suffix=-mig \
    migration_downtime=300 migration_speed=500 \
    probe_tcp=192.0.2.10:443 \
    meta allow-migrate=true migration-threshold=2 \
    op monitor interval=10s timeout=30s \
    op monitor interval=30s timeout=30s OCF_CHECK_LEVEL=10 \
    op monitor interval=60s timeout=30s OCF_CHECK_LEVEL=20 \
    op start timeout=90s op stop timeout=90s \
    op migrate_to timeout=300s op migrate_from timeout=60s
