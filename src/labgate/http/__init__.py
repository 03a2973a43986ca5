"""HTTP plumbing shared by every route: middleware, error responses, client addresses."""
