"""Helpers of the molecule scenarios under roles/*/molecule/ (lab hosts, served bundle, inventory)."""
