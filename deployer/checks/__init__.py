"""Checks: HA rules over the model, and the failure analysis behind `validate --explain`."""
