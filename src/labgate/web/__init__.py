"""What the browser loads: the single-page app and the rendered API docs."""
