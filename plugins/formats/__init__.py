"""Built-in formats plugin."""
