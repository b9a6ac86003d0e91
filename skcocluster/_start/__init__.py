"""Start strategies: clusterings of the initial positions and the choice among them."""
