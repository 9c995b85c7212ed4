from __future__ import annotations

import sys
from pathlib import Path

import pytest
from sqlalchemy import inspect, text

from db import Database, make_engine, upgrade
from db.engine import mask
from db.migrate import current_revisions, head_revisions
from db.models import Base

TABLES = {"models", "runs", "item_results", "metrics"}


def test_upgrade_creates_schema(db_url: str) -> None:
    engine = make_engine(db_url)
    upgrade(engine)
    insp = inspect(engine)
    assert TABLES | {"alembic_version"} <= set(insp.get_table_names())
    for table in TABLES:  # the migration matches the models column for column
        assert {c["name"] for c in insp.get_columns(table)} == set(Base.metadata.tables[table].columns.keys())
    uniques = {u["name"] for t in TABLES for u in insp.get_unique_constraints(t)}
    assert {"uq_item_results_run_item", "uq_metrics_run_name_subset", "uq_models_name"} <= uniques
    indexes = {i["name"] for t in TABLES for i in insp.get_indexes(t)}
    assert {"ix_runs_suite", "ix_runs_model_id", "ix_item_results_run_id", "ix_metrics_run_id"} <= indexes
    fks = {(t, fk["referred_table"]) for t in TABLES for fk in insp.get_foreign_keys(t)}
    assert fks == {("runs", "models"), ("item_results", "runs"), ("metrics", "runs")}
    engine.dispose()


def test_upgrade_twice_is_noop(db_url: str) -> None:
    engine = make_engine(db_url)
    upgrade(engine)
    upgrade(engine)
    with engine.connect() as conn:
        assert current_revisions(conn) == head_revisions()
    engine.dispose()
    upgrade(db_url)  # by URL too


def test_no_model_drift(db_url: str) -> None:
    """Autogenerate finds nothing: models.py and the migrations agree."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    engine = make_engine(db_url)
    upgrade(engine)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    engine.dispose()
    assert diff == []


def test_database_front_door(db_url: str) -> None:
    database = Database(db_url)
    assert database.url == mask(db_url) or db_url.startswith("sqlite")
    with database.session() as s:
        assert s.connection().dialect.name in {"sqlite", "postgresql"}
    database.dispose()


def test_import_db_is_light() -> None:
    import os
    import subprocess

    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    code = "import sys, db; print(any(m in sys.modules for m in ('torch', 'transformers')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert out.stdout.strip() == "False"


def test_default_database_in_evals_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EVALS_DB_URL", raising=False)
    monkeypatch.setenv("EVALS_HOME", str(tmp_path))
    database = Database()
    assert database.url == f"sqlite:///{tmp_path}/leitai.db"
    assert (tmp_path / "leitai.db").exists()
    database.dispose()


def test_newer_schema_is_reported(db_url: str) -> None:
    engine = make_engine(db_url)
    upgrade(engine)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    with pytest.raises(RuntimeError, match="9999.*upgrade leitai"):
        upgrade(engine)
    engine.dispose()
