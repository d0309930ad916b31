"""A layout's SQL tables (SQLAlchemy Core, declared in its package) as the DDL its server
writes, and as what a catalog shows once that DDL ran.

SQLAlchemy's DDL compilers write everything here: type names per dialect, defaults, the
REFERENCES clause and its ON DELETE, identifier quoting, and the whole CREATE INDEX
(``IF NOT EXISTS``, ``CONCURRENTLY``, a partial index's ``WHERE``). The compilers are
subclassed only to put a column's clauses where hand-written DDL (the framework's own source)
puts them, which SQLAlchemy's defaults do not:

- a single-column primary key inline, ``session_id TEXT PRIMARY KEY`` (SQLAlchemy writes
  ``session_id TEXT NOT NULL`` and a table-level ``PRIMARY KEY (session_id)``; on SQLite the
  added NOT NULL would also change the column: ``PRAGMA table_info`` reports it);
- NOT NULL before DEFAULT (SQLAlchemy writes ``DEFAULT '{}' NOT NULL``);
- on PostgreSQL a single-column foreign key inline as ``REFERENCES sessions(session_id)``; on
  SQLite a table-level ``FOREIGN KEY (session_id) REFERENCES sessions(session_id)``;
- SQLite's ``AUTOINCREMENT`` without the NOT NULL SQLAlchemy adds;
- columns and indexes marked ``info={"only": <dialect>}`` exist on that dialect only.

What is left is layout: one column per line indented by four spaces where SQLAlchemy writes a
tab and a trailing space, and no space between a table name and its column list.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.compiler import DDLCompiler
from sqlalchemy.sql.ddl import CreateIndex, CreateTable


def present(item: sa.Column[Any] | sa.Index, dialect: str) -> bool:
    """Whether a layout's column or index exists on ``dialect`` (``sqlite``, ``postgresql``)."""
    only = item.info.get("only")
    return only is None or only == dialect


def columns(table: sa.Table, dialect: str) -> list[sa.Column[Any]]:
    return [c for c in table.columns if present(c, dialect)]


@dataclass(frozen=True, slots=True)
class ColumnSpec:
    """One column as the DDL declares it."""

    name: str
    type: str  # as written: TEXT, VARCHAR(36), BIGSERIAL...
    not_null: bool  # NOT NULL written (an inline PRIMARY KEY writes none)
    default: str | None  # the DEFAULT expression as written
    primary_key: bool
    serial: bool  # numbered by the database (AUTOINCREMENT, BIGSERIAL)


@dataclass(frozen=True, slots=True)
class IndexSpec:
    name: str
    table: str
    columns: tuple[str, ...]
    where: str | None  # a partial index's predicate, as written


def _inline_key(column: sa.Column[Any]) -> bool:
    table = column.table
    return column.primary_key and len(table.primary_key.columns) == 1


class _HandWritten(DDLCompiler):
    """Column clauses in the order and places hand-written DDL has them."""

    inline_references = False

    def spec(self, column: sa.Column[Any]) -> ColumnSpec:
        inline_key = _inline_key(column)
        # info={"defaults": {dialect: "expression"}}: a default written differently per
        # backend (SQLite's 1 is PostgreSQL's true).
        default = column.info.get("defaults", {}).get(self.dialect.name)
        return ColumnSpec(
            name=column.name,
            type=self.column_type(column),
            # info={"not_null_key": True}: a key written "NOT NULL PRIMARY KEY" (in SQLite a
            # TEXT key alone may hold NULL).
            not_null=not column.nullable
            and (not inline_key or bool(column.info.get("not_null_key"))),
            default=default if default is not None else self.get_column_default_string(column),
            primary_key=column.primary_key,
            serial=self.serial(column),
        )

    def serial(self, column: sa.Column[Any]) -> bool:
        return False

    def column_type(self, column: sa.Column[Any]) -> str:
        return str(self.dialect.type_compiler_instance.process(column.type, type_expression=column))

    def key_suffix(self, column: sa.Column[Any]) -> str:
        return ""

    def visit_create_column(self, create: Any, first_pk: bool = False, **kw: Any) -> str | None:
        column = create.element
        if not present(column, self.dialect.name):
            return None  # not on this backend
        return self.get_column_specification(column)

    def get_column_specification(self, column: sa.Column[Any], **kw: Any) -> str:
        spec = self.spec(column)
        text = f"{self.preparer.format_column(column)} {spec.type}"
        if _inline_key(column):
            text += (
                (" NOT NULL" if spec.not_null else "") + " PRIMARY KEY" + self.key_suffix(column)
            )
        elif spec.not_null:
            text += " NOT NULL"
        if spec.default is not None:
            text += f" DEFAULT {spec.default}"
        if self.inline_references:
            for fk in column.foreign_keys:
                if fk.constraint is not None and len(fk.constraint.elements) == 1:
                    text += " " + self.references(fk.constraint)
        return text

    # A constraint compiled to None is left out of CREATE TABLE (SQLAlchemy's own compilers
    # do the same), hence the return type Any.
    def visit_primary_key_constraint(self, constraint: Any, **kw: Any) -> Any:
        if len(constraint.columns) == 1:
            return None  # written with its column
        return str(super().visit_primary_key_constraint(constraint, **kw))

    def visit_foreign_key_constraint(self, constraint: Any, **kw: Any) -> Any:
        if self.inline_references and len(constraint.elements) == 1:
            return None  # written with its column
        local = ", ".join(self.preparer.quote(e.parent.name) for e in constraint.elements)
        return (
            f"{self.define_constraint_preamble(constraint)}FOREIGN KEY ({local}) "
            f"{self.references(constraint)}"
        )

    def references(self, constraint: Any) -> str:
        remote_table = constraint.elements[0].column.table
        remote = ", ".join(self.preparer.quote(e.column.name) for e in constraint.elements)
        return (
            f"REFERENCES {self.preparer.format_table(remote_table)}({remote})"
            + self.define_constraint_match(constraint)
            + self.define_constraint_cascades(constraint)
            + self.define_constraint_deferrability(constraint)
        )


class _SQLiteRules(_HandWritten):
    def serial(self, column: sa.Column[Any]) -> bool:
        # SQLAlchemy's own rule for AUTOINCREMENT (SQLiteDDLCompiler.get_column_specification).
        return bool(
            _inline_key(column)
            and column.table.dialect_options["sqlite"]["autoincrement"]
            and isinstance(column.type.dialect_impl(self.dialect), sa.Integer)
            and not column.foreign_keys
        )

    def key_suffix(self, column: sa.Column[Any]) -> str:
        return " AUTOINCREMENT" if self.serial(column) else ""


class _PostgresRules(_HandWritten):
    inline_references = True

    def serial(self, column: sa.Column[Any]) -> bool:
        return bool(
            column.primary_key
            and column.autoincrement is True
            and column.server_default is None
            and isinstance(column.type.dialect_impl(self.dialect), sa.Integer)
        )

    def column_type(self, column: sa.Column[Any]) -> str:
        if self.serial(column):
            # As PGDDLCompiler.get_column_specification names an autoincrementing key.
            impl = column.type.dialect_impl(self.dialect)
            if isinstance(impl, sa.BigInteger):
                return "BIGSERIAL"
            if isinstance(impl, sa.SmallInteger):
                return "SMALLSERIAL"
            return "SERIAL"
        return super().column_type(column)


# dialect name: (its module, its DDL compiler, its dialect class, the rules above)
_BACKENDS: dict[str, tuple[str, str, str, type[_HandWritten]]] = {
    "sqlite": (
        "sqlalchemy.dialects.sqlite.base",
        "SQLiteDDLCompiler",
        "SQLiteDialect",
        _SQLiteRules,
    ),
    "postgresql": (
        "sqlalchemy.dialects.postgresql.base",
        "PGDDLCompiler",
        "PGDialect",
        _PostgresRules,
    ),
}


@functools.cache
def _backend(name: str) -> tuple[type[_HandWritten], Any]:
    """The dialect's own DDL compiler with the rules above, and a dialect. SQLAlchemy's
    dialect package is imported here, only for the dialect asked for (a SQLite store never
    loads the PostgreSQL one)."""
    module_name, compiler_name, dialect_name, rules = _BACKENDS[name]
    module = importlib.import_module(module_name)
    compiler = type(f"{rules.__name__}Compiler", (rules, getattr(module, compiler_name)), {})
    return compiler, getattr(module, dialect_name)()


def _dialect(name: str) -> Any:
    return _backend(name)[1]


def _compiler(name: str, element: Any) -> _HandWritten:
    compiler, dialect = _backend(name)
    return compiler(dialect, element)


def _laid_out(text: str) -> str:
    """SQLAlchemy's lines (a tab in front, a space before each line break) four-space
    indented, as hand-written DDL is."""
    return text.strip().replace(", \n\t", ",\n    ").replace("\n\t", "\n    ")


def create_table(table: sa.Table, dialect: str) -> str:
    return _laid_out(str(_compiler(dialect, CreateTable(table, if_not_exists=True))))


def create_index(index: sa.Index, dialect: str) -> str:
    text = str(_compiler(dialect, CreateIndex(index, if_not_exists=True)))
    assert index.table is not None
    name = _dialect(dialect).identifier_preparer.format_table(index.table)
    return text.replace(f" ON {name} (", f" ON {name}(", 1)


def create_statements(
    tables: Iterable[sa.Table], indexes: Iterable[sa.Index], dialect: str
) -> list[str]:
    """The layout's DDL for ``dialect``: its tables, then its indexes."""
    return [
        *(create_table(t, dialect) for t in tables),
        *(create_index(i, dialect) for i in indexes if present(i, dialect)),
    ]


def column_specs(table: sa.Table, dialect: str) -> list[ColumnSpec]:
    """The columns of ``table`` on ``dialect`` as its DDL declares them."""
    compiler = _compiler(dialect, CreateTable(table))
    return [compiler.spec(c) for c in columns(table, dialect)]


def index_specs(indexes: Iterable[sa.Index], dialect: str) -> list[IndexSpec]:
    out = []
    for index in indexes:
        if not present(index, dialect):
            continue
        assert index.table is not None
        where = index.dialect_options[dialect].get("where")
        out.append(
            IndexSpec(
                name=str(index.name),
                table=index.table.name,
                columns=tuple(c.name for c in index.columns),
                where=None if where is None else str(where),
            )
        )
    return out


def primary_key(table: sa.Table) -> tuple[str, ...]:
    return tuple(c.name for c in table.primary_key.columns)


def length(column: sa.Column[Any], dialect: str) -> int | None:
    """The most characters ``column`` holds on ``dialect`` (None: no limit)."""
    impl = column.type.dialect_impl(_dialect(dialect))
    return getattr(impl, "length", None) if isinstance(impl, sa.String) else None
