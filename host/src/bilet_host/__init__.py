"""The `bvb` command line and the embedded host: all six services in one process on one port."""
