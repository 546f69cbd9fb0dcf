"""Reports: turns results into text, JSON and other formats, knowing nothing of the CLI."""
