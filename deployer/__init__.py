"""Deploys and keeps healthy a high-availability Mattermost cluster in air-gapped networks."""
