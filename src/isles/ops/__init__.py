"""Running and watching: metrics, background workers, the process supervisor."""
