"""Credentials for SSH: the server secret and sealing, key pairs, labgate's SSH CA, storage."""
