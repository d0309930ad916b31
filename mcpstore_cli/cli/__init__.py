"""The Typer command layer: parses options, calls the library, renders through output."""
