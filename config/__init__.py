"""The lowest layer: budgetflow's settings, read from the environment once, at each entry point, and passed down."""
