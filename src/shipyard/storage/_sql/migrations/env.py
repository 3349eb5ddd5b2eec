"""Alembic environment: runs on the connection Shipyard hands over (``config.attributes``)."""

from alembic import context

from shipyard.storage._sql._schema import metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
