"""The camera registry and what belongs to a camera: model, regions, CSV, leases' subjects, audit, push keys, reference views, visibility windows, source policy."""
