"""`deployer health`: small checks run concurrently against an environment, reported as tables or JSON."""
