"""Ansible plugins the deployer loads into ansible-playbook."""
