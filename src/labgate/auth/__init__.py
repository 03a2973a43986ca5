"""Authentication (who are you) and authorisation (may you), in one package."""
