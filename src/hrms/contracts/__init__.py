"""What services may know of each other: event contracts and API views, nothing more.

A service package imports ``isles``, these contracts, and itself; never another
service's package (import-linter enforces it).
"""
