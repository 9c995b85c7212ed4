"""Database layer (being built): models, engine factory, repositories, migrations."""
