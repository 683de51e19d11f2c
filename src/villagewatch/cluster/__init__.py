"""Work shared by several identical processes: leases with fencing tokens."""
