"""Interactive sessions: web apps (JupyterLab, TensorBoard, ...) that labgate starts on a
resource for a user, reaches through its proxy, and stops when asked, when idle or when
their time is up."""
