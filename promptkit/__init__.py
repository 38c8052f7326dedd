"""promptkit."""
