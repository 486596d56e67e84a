"""The SQLAlchemy side of the example shop: a service reading and writing the same tables."""
