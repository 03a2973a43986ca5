"""Remote desktops: the RFB bridge from the browser's WebSocket to a session's VNC server
(``rfb``: the protocol's pieces; ``access``: who may watch or use a desktop; ``bridge``:
the two streams joined)."""
