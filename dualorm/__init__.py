"""dualorm: one PostgreSQL schema, two ORMs."""

__version__ = "0.1.0"
