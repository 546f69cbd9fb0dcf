"""Upgrades of the app tier: a typed plan chosen by Mattermost's rules, rendered as runbooks and executed."""
