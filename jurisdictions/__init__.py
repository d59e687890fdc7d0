"""The service's composition root: settings, wiring of long-lived objects, and the CLI."""
