#!/bin/sh
# Two cluster nodes that are libvirt VMs (vm-node1 on hypervisor hv1, vm-node2
# on hv2), each fenced by powering its VM off through the libvirtd of the
# hypervisor it runs on, with fence_vcha_libvirt.
#
# Run on a cluster node, or against a CIB file: CIB=cib.xml sh pcs.sh
# The ssh key must log in to root@hvN without a prompt, from every node:
# ssh-keygen -t ed25519 -N '' -f /etc/vcha/fence_ed25519, then add the .pub
# to hvN's /root/.ssh/authorized_keys and hvN to the nodes' known_hosts.
set -e
pcs() { command pcs ${CIB:+-f "$CIB"} "$@"; }

# pcmk_host_map maps the cluster node name to the libvirt domain name.
# pcmk_delay_max staggers the two nodes when each tries to fence the other
# in a two-node cluster after a split: a random delay of up to 5 s.
pcs stonith create fence-node1 fence_vcha_libvirt \
    uri=qemu+ssh://hv1.example.com/system \
    identity_file=/etc/vcha/fence_ed25519 \
    pcmk_host_map=node1:vm-node1 pcmk_delay_max=5s power_timeout=20 \
    op monitor interval=60s
pcs stonith create fence-node2 fence_vcha_libvirt \
    uri=qemu+ssh://hv2.example.com/system \
    identity_file=/etc/vcha/fence_ed25519 \
    pcmk_host_map=node2:vm-node2 pcmk_delay_max=5s power_timeout=20 \
    op monitor interval=60s

# A node never runs the device that fences it.
pcs constraint location fence-node1 avoids node1
pcs constraint location fence-node2 avoids node2
pcs property set stonith-enabled=true
