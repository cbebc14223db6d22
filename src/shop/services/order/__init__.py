"""The shop's order service (being built: issue 18)."""
