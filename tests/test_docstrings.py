"""Every public name of the three packages has a docstring.

"Public" is what a module promises with its ``__all__``: every module of
``edu_async_core``, ``tutorflow_async`` and ``nexttech_async`` that defines one and whose
dotted path has no ``_``-prefixed part (``tutorflow_async.testing._wire`` is private, its
``__all__`` only a list for the package's own imports). For each name there:

- a module, class or function needs its own docstring (a class's is read from its source,
  so the docstring that ``NamedTuple``, ``dataclass`` or ``Enum`` may generate does not
  count);
- a constant or type alias needs an attribute docstring: a string literal on the line
  after its assignment (what the API reference renders);
- a class's public methods and properties need their own docstrings, for every class in
  its MRO that is defined in these packages (so not what ``object``, ``Exception``,
  ``str`` or attrs generate, and not dunders).

The core package has no ``__all__``: its public parts are its modules that have one
(``cli_support``, ``pytest_support``, ``emulation``) and :data:`CORE_PUBLIC`, the classes the SDKs
re-export, take as arguments or raise (what ``docs/reference/edu_async_core.md`` shows).
"""

from __future__ import annotations

import ast
import functools
import importlib
import importlib.util
import inspect
import pkgutil
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import attrs
import pytest

PACKAGES = ("edu_async_core", "tutorflow_async", "nexttech_async")

#: The modules the brief names; the test fails if one of them stops being checked.
REQUIRED_MODULES = (
    "tutorflow_async",
    "tutorflow_async.testing",
    "nexttech_async",
    "nexttech_async.testing",
    "edu_async_core.emulation",
    "edu_async_core.pytest_support",
)

#: The core's public names outside an ``__all__`` (an error class defined in
#: ``edu_async_core.errors`` is public too, see :func:`core_names`).
CORE_PUBLIC = {
    "edu_async_core.clock": ("Clock", "SystemClock", "SYSTEM_CLOCK", "ManualClock"),
    "edu_async_core.errors": ("RequestContext",),
    "edu_async_core.redaction": ("Secret",),
    "edu_async_core.retry": ("RetryPolicy",),
    "edu_async_core.transport": ("TransportConfig",),
}

#: Names allowed to lack a docstring for a while (work in progress elsewhere names them
#: here, then documents them). Empty is the rule; a name listed here that has a
#: docstring is reported as a warning (see the test below).
PENDING: frozenset[str] = frozenset()


def _public(name: str) -> bool:
    return not any(part.startswith("_") for part in name.split("."))


def module_names() -> list[str]:
    """Every public module of the packages that defines ``__all__``, in a stable order."""
    found = []
    for package_name in PACKAGES:
        package = importlib.import_module(package_name)
        names = [package_name]
        for info in pkgutil.walk_packages(package.__path__, prefix=f"{package_name}."):
            names.append(info.name)
        for name in names:
            if not _public(name) or name.endswith("__main__"):
                continue
            module = importlib.import_module(name)
            if "__all__" in vars(module):
                found.append(name)
    return sorted(found)


@attrs.frozen
class Source:
    """One module's parsed source, and its lines (for ``#:`` comments)."""

    tree: ast.Module
    lines: list[str]


@functools.cache
def _source(module_name: str) -> Source | None:
    module = sys.modules.get(module_name) or importlib.import_module(module_name)
    path = getattr(module, "__file__", None)
    if path is None or not path.endswith(".py"):
        return None
    text = Path(path).read_text(encoding="utf-8")
    return Source(ast.parse(text), text.splitlines())


def _class_node(cls: type) -> ast.ClassDef | None:
    source = _source(cls.__module__)
    if source is None:
        return None
    body: list[ast.stmt] = source.tree.body
    node: ast.ClassDef | None = None
    for part in cls.__qualname__.split("."):
        node = next(
            (n for n in body if isinstance(n, ast.ClassDef) and n.name == part),
            None,
        )
        if node is None:
            return None
        body = node.body
    return node


def _class_doc(cls: type) -> str | None:
    node = _class_node(cls)
    if node is not None:
        return ast.get_docstring(node)
    doc = vars(cls).get("__doc__")
    return doc if isinstance(doc, str) else None


def _assigned(statement: ast.stmt) -> list[str]:
    if isinstance(statement, ast.Assign):
        return [t.id for t in statement.targets if isinstance(t, ast.Name)]
    if isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name):
        return [statement.target.id]
    if sys.version_info >= (3, 12) and isinstance(statement, ast.TypeAlias):
        return [statement.name.id]
    return []


def _resolve(module_name: str, level: int, target: str | None) -> str:
    if level == 0:
        return target or ""
    package = module_name if _is_package(module_name) else module_name.rpartition(".")[0]
    for _ in range(level - 1):
        package = package.rpartition(".")[0]
    return f"{package}.{target}" if target else package


def _is_package(module_name: str) -> bool:
    return hasattr(sys.modules[module_name], "__path__")


def _comment_above(lines: list[str], lineno: int) -> str | None:
    """The ``#:`` comment block right above line ``lineno`` (1-based), if any."""
    block: list[str] = []
    index = lineno - 2
    while index >= 0 and lines[index].lstrip().startswith("#:"):
        block.insert(0, lines[index].lstrip()[2:].strip())
        index -= 1
    return " ".join(block) if block else None


def _attribute_doc(module_name: str, name: str) -> tuple[str, str | None]:
    """Where a module-level name is assigned, and its documentation there.

    The documentation is the string literal right after the assignment, or the ``#:``
    comment right above it (which the API reference renders too, see
    ``docs/hooks/doc_comments.py``). ``from X import name`` is followed into X.
    """
    source = _source(module_name)
    if source is None:
        return module_name, None
    body = source.tree.body
    for index, statement in enumerate(body):
        if name in _assigned(statement):
            after = body[index + 1] if index + 1 < len(body) else None
            if (
                isinstance(after, ast.Expr)
                and isinstance(after.value, ast.Constant)
                and isinstance(after.value.value, str)
            ):
                return module_name, after.value.value
            return module_name, _comment_above(source.lines, statement.lineno)
    for statement in body:
        if isinstance(statement, ast.ImportFrom):
            for alias in statement.names:
                if (alias.asname or alias.name) == name:
                    origin = _resolve(module_name, statement.level, statement.module)
                    if origin.split(".")[0] in PACKAGES and origin != module_name:
                        importlib.import_module(origin)
                        return _attribute_doc(origin, alias.name)
    return module_name, None


def _routine_doc(obj: object) -> str | None:
    doc = getattr(obj, "__doc__", None)
    if doc is not None and doc is getattr(type(obj), "__doc__", None):
        return None  # an instance showing its class's docstring has none of its own
    return doc if isinstance(doc, str) else None


def _is_ours(cls: type) -> bool:
    return cls.__module__.split(".")[0] in PACKAGES


def _member_function(value: object) -> object | None:
    """The function behind a class attribute that is a method or property, else None."""
    if isinstance(value, staticmethod | classmethod):
        return value.__func__
    if isinstance(value, property):
        return value.fget
    if isinstance(value, functools.cached_property):
        return value.func
    if inspect.isfunction(value):
        return value
    return None


def _member_offenders(cls: type) -> Iterator[str]:
    for klass in cls.__mro__:
        if not _is_ours(klass):
            continue
        for name, value in vars(klass).items():
            if name.startswith("_"):
                continue
            function = _member_function(value)
            if function is not None and not _has_text(_routine_doc(function)):
                yield f"{klass.__module__}.{klass.__qualname__}.{name}"


def _has_text(doc: str | None) -> bool:
    return doc is not None and bool(doc.strip())


def _name_offenders(module: ModuleType, name: str) -> Iterator[str]:
    obj = getattr(module, name)
    if inspect.ismodule(obj):
        if not _has_text(obj.__doc__):
            yield obj.__name__
    elif inspect.isclass(obj):
        if not _has_text(_class_doc(obj)):
            yield f"{obj.__module__}.{obj.__qualname__}"
        yield from _member_offenders(obj)
    elif inspect.isroutine(obj) or hasattr(obj, "__wrapped__"):
        if not _has_text(_routine_doc(obj)):
            where = getattr(obj, "__module__", None) or module.__name__
            yield f"{where}.{getattr(obj, '__qualname__', name)}"
    else:
        where, doc = _attribute_doc(module.__name__, name)
        if not _has_text(doc):
            yield f"{where}.{name}"


def core_names() -> dict[str, tuple[str, ...]]:
    """:data:`CORE_PUBLIC`, plus every exception class ``edu_async_core.errors`` defines."""
    names = dict(CORE_PUBLIC)
    errors = importlib.import_module("edu_async_core.errors")
    raised = tuple(
        name
        for name, value in vars(errors).items()
        if isinstance(value, type)
        and issubclass(value, BaseException)
        and value.__module__ == errors.__name__
    )
    names["edu_async_core.errors"] = (*names["edu_async_core.errors"], *raised)
    return names


def checked_names() -> dict[str, list[str]]:
    """Each checked public name (``module.name``), with what of it lacks a docstring."""
    result: dict[str, list[str]] = {}
    for module_name, names in core_names().items():
        module = importlib.import_module(module_name)
        if not _has_text(module.__doc__):
            result.setdefault(module_name, []).append(module_name)
        for name in names:
            result[f"{module_name}.{name}"] = list(_name_offenders(module, name))
    for module_name in module_names():
        module = importlib.import_module(module_name)
        if not _has_text(module.__doc__):
            result.setdefault(module_name, []).append(module_name)
        for name in module.__all__:
            result[f"{module_name}.{name}"] = list(_name_offenders(module, name))
    return result


@attrs.frozen
class Report:
    """What the check found: every name looked at, and the undocumented ones."""

    checked: int
    offenders: frozenset[str]


@functools.cache
def report() -> Report:
    """Run the check once for the whole module."""
    found = checked_names()
    offenders = frozenset(o for names in found.values() for o in names)
    return Report(checked=len(found), offenders=offenders)


def test_every_required_module_is_checked() -> None:
    missing = [name for name in REQUIRED_MODULES if name not in module_names()]
    assert not missing, f"modules without __all__ (so unchecked): {missing}"
    assert report().checked > 100


def test_every_public_name_has_a_docstring() -> None:
    undocumented = sorted(report().offenders - PENDING)
    assert not undocumented, (
        f"{len(undocumented)} public names have no docstring:\n  " + "\n  ".join(undocumented)
    )


def test_pending_names_are_still_undocumented() -> None:
    """A pending name that is documented now is said, as a warning, not a failure.

    The work that documents it runs alongside this one: failing would break that work's
    commit for a line of this file. The warning names what to remove from PENDING.
    """
    documented = sorted(PENDING - report().offenders)
    if documented:
        warnings.warn(
            f"documented now, remove them from PENDING in {__file__}: {documented}",
            stacklevel=1,
        )


PROBE = """\
\'\'\'A module to check the check with.\'\'\'

#: Documented by a comment.
COMMENTED = 1
NAMED = 2
\'\'\'Documented by a string.\'\'\'
BARE = 3


class Probe:
    \'\'\'Documented.\'\'\'

    def documented(self) -> None:
        \'\'\'Documented.\'\'\'

    def undocumented(self) -> None:
        pass

    @property
    def bare(self) -> int:
        return 1

    def _private(self) -> None:
        pass


class Bare(Probe):
    def more(self) -> None:
        pass
"""


def test_the_check_names_each_undocumented_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The check itself, on a module of known gaps: each is reported, by its full name."""
    path = tmp_path / "_docstring_probe.py"
    path.write_text(PROBE, encoding="utf-8")
    name = "tutorflow_async._docstring_probe"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, name, module)
    spec.loader.exec_module(module)
    found = {
        each: list(_name_offenders(module, each))
        for each in ("COMMENTED", "NAMED", "BARE", "Probe", "Bare")
    }
    assert found == {
        "COMMENTED": [],
        "NAMED": [],
        "BARE": [f"{name}.BARE"],
        "Probe": [f"{name}.Probe.undocumented", f"{name}.Probe.bare"],
        "Bare": [
            f"{name}.Bare",
            f"{name}.Bare.more",
            f"{name}.Probe.undocumented",
            f"{name}.Probe.bare",
        ],
    }
