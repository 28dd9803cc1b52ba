"""Built-in depth plugin."""
