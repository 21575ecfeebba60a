"""What the user sees on a terminal: argument checks, progress, tables, tracing."""
