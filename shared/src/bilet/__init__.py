"""The Bilet platform kernel: what every service shares and nothing service-specific."""
