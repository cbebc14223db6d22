"""Putting it together: a service's declaration, the system's runtime (one process or
one per service) and the distributed topology on one machine."""
