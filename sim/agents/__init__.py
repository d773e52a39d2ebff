"""One module per agent type."""
