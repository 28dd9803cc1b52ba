"""Built-in rgb plugin."""
