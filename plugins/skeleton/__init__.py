"""Built-in skeleton plugin."""
