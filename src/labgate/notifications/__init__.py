"""A user's notification centre: session warnings, shares and joins, extension decisions,
announcements and quota warnings, kept in the database and shown in the top bar."""
