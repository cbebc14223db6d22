"""The shop's services: one package each, each owning its database."""
