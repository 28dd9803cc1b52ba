"""Built-in synthact plugin."""
