"""Shared provisioning logic for the VRE toolkit's providers.

The local provider (`vrecloud.local`) turns systemd containers into VMs so the whole stack
runs on one machine; the cluster spec (`vrecloud.spec`) is the same file for every provider.
"""
