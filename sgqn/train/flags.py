"""Command lines for flat config dataclasses, with ``--help`` in titled groups.

``tyro`` titles a group of flags only for a nested dataclass, but the rest of the code wants
one flat :class:`sgqn.config.Config`. :func:`parse` builds the nested view on the fly from
the ``# --- name ---`` comments that split the dataclass's fields, parses the command line with
it (flags keep their flat names: ``--batch-size``) and returns the flat dataclass. Help text
comes from each field's docstring, the group descriptions from ``titles``.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import re
import textwrap
import typing
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, TypeVar

import tyro

__all__ = ["parse", "field_groups", "field_docs"]

T = TypeVar("T")
_SECTION = re.compile(r"^\s*#\s*---\s*([A-Za-z0-9_ ]+?)\s*-*\s*$")
_FIELD = re.compile(r"^\s{4}([A-Za-z_]\w*)\s*:")


def field_groups(cls: type) -> list[tuple[str, list[str]]]:
    """The dataclass's fields split by its ``# --- name ---`` comments, in source order.

    Fields before the first comment form a group named ``options``.
    """
    names = {f.name for f in dataclasses.fields(cls)}
    groups: list[tuple[str, list[str]]] = [("options", [])]
    for line in inspect.getsource(cls).splitlines():
        section = _SECTION.match(line)
        if section:
            groups.append((section.group(1).strip(), []))
            continue
        field = _FIELD.match(line)
        if field and field.group(1) in names:
            groups[-1][1].append(field.group(1))
    return [(name, fields) for name, fields in groups if fields]


def field_docs(cls: type) -> dict[str, str]:
    """The docstring under each field of a dataclass (fields without one are left out)."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    body = tree.body[0].body  # type: ignore[attr-defined]
    docs = {}
    for node, following in zip(body, body[1:], strict=False):
        if (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and isinstance(following, ast.Expr)
            and isinstance(following.value, ast.Constant)
            and isinstance(following.value.value, str)
        ):
            docs[node.target.id] = inspect.cleandoc(following.value.value)
    return docs


def _default(f: dataclasses.Field) -> dict[str, Any]:
    if f.default is not dataclasses.MISSING:
        return {"default": f.default}
    return {"default_factory": f.default_factory}


def parse(
    cls: type[T],
    args: Sequence[str] | None,
    *,
    prog: str,
    description: str,
    titles: Mapping[str, str] | None = None,
    hints: Mapping[str, str] | None = None,
    exclude: Sequence[str] = (),
) -> T:
    """Parse a command line into the flat dataclass ``cls``, with ``--help`` in groups.

    Args:
        cls: a flat dataclass whose fields are split by ``# --- name ---`` comments.
        args: the command line (None: ``sys.argv[1:]``).
        prog: the program name ``--help`` shows, e.g. ``python -m sgqn.train``.
        description: the first line of ``--help``.
        titles: a description per group name.
        hints: replaces tyro's ``(default: ...)`` for these fields.
        exclude: fields that are not flags (they keep their defaults).
    """
    titles, hints = titles or {}, hints or {}
    types = typing.get_type_hints(cls)
    docs = field_docs(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    sections = []
    for group, names in field_groups(cls):
        members = []
        for name in names:
            if name in exclude:
                continue
            marker = tyro.conf.arg(help=docs.get(name, ""), help_behavior_hint=hints.get(name))
            members.append(
                (name, Annotated[types[name], marker], dataclasses.field(**_default(fields[name])))
            )
        if not members:
            continue
        slug = re.sub(r"\W+", "_", group.strip().lower())
        section = dataclasses.make_dataclass(slug, members)
        section.__doc__ = titles.get(group, group)
        sections.append((slug, section, dataclasses.field(default_factory=section)))
    nested = dataclasses.make_dataclass(cls.__name__, sections)
    nested.__doc__ = description
    parsed = tyro.cli(
        nested,
        args=args,
        prog=prog,
        description=description,
        config=(tyro.conf.OmitArgPrefixes, tyro.conf.HelptextFromCommentsOff),
    )
    values = {}
    for slug, _, _ in sections:
        values.update(dataclasses.asdict(getattr(parsed, slug)))
    return cls(**values)
