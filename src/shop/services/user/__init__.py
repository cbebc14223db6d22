"""The shop's user service (being built: issue 18)."""
