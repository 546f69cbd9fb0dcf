"""Failover drills: inject one failure under steady load and measure detection, recovery and data loss."""
