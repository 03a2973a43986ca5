"""Resources: the computers labgate reaches, who may use them, and the live connections."""
