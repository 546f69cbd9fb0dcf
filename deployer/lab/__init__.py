"""The lab: a topology turned into real systemd hosts in containers on a network with no route out."""
