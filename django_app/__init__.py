"""The reference authentication schema as Django models, with settings and app config.

The same schema is declared for SQLAlchemy in ``sa_models``; ``dualorm validate`` keeps the
two (and the live database) in agreement.
"""
