"""The Shenzhen demo: real districts and their dated history, replayed as change sets."""
