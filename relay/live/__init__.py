"""What changes while people watch: event streams, wall and region summaries, visibility windows opening and closing."""
