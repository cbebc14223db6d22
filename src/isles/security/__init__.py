"""Tokens: signing keys, the key ring, access and service tokens, principals."""
