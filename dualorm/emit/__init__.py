"""The emitters: each operation rendered as SQL, as Alembic ``op.*`` code, as Django state.

One renderer per operation class and target, in a :class:`~dualorm.emit.registry.Registry`:
:mod:`dualorm.emit.sql` (the statements every target runs), :mod:`dualorm.emit.alembic_ops`
and :mod:`dualorm.emit.django_state`. :mod:`dualorm.emit.alembic` and
:mod:`dualorm.emit.django` write the files around them; :mod:`dualorm.emit.script` writes psql
scripts. Importing the package imports none of them, so a Django-only project never loads
SQLAlchemy.
"""
