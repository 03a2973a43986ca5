"""Usage figures for administrators: sessions, active users, core- and GPU-hours,
launch times and failures, from the history kept in the database."""
