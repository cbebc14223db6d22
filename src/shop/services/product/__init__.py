"""The shop's product service (being built: issue 18)."""
