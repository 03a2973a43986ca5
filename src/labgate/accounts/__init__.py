"""Users and groups: the rules every change to an account follows, for API and CLI alike."""
