"""marrac-hub: a secure inter-agency information hub for MARRAC domestic-abuse case work."""

__version__ = "0.1.0"
