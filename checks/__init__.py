"""Rule catalogue, typed tables (pandera schemas) and findings."""
