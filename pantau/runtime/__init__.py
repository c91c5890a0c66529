"""Running a node: configuration, paths, Redis (embedded or a site's), leases, sessions, logging, memory, the clock."""
