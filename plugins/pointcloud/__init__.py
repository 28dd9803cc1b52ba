"""Built-in pointcloud plugin."""
