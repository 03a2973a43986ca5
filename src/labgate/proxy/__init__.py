"""The authenticated reverse proxy in front of every session's app (``/s/{session}/``)."""
