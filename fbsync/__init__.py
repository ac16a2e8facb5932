"""fbsync: keep Meta ad audiences in step with your CRM."""

__version__ = "0.1.0"
