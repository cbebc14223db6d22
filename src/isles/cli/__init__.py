"""The ``isles`` command."""
