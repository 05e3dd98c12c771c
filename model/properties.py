"""Properties as data (``specs/properties.toml``), parsed with located errors.

The file holds three kinds of tables:

* ``[[property]]``: a named claim about the composed system (below);
* ``[[requirement]]``: a requirement of RFC 9293, with the properties that
  state it or the reason the model cannot (docs/requirements.md is
  generated from these, tools/requirements.py);
* ``[[configuration]]``: the model configurations the project checks its
  properties and mutants in (channel bound, faults, spec options).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, NoReturn

from tcpcheck.model import gcl
from tcpcheck.model.compose import ENDPOINTS, MAX_BOUND, ModelOptions, property_env
from tcpcheck.model.errors import InputError, locate, where
from tcpcheck.model.expr import Env, ExprError, Node, parse, typecheck
from tcpcheck.model.spec import MAX_TEXT, NAME, NAME_RULE, read_toml

# The sections of RFC 9293 (its table of contents): an `rfc` field that cites
# "RFC 9293 §N" must name one of them.
RFC9293_SECTIONS = frozenset(
    "1 2 2.1 2.2 3 3.1 3.2 3.2.1 3.2.2 3.3 3.3.1 3.3.2 3.4 3.4.1 3.4.2 3.4.3 3.5 3.5.1 3.5.2 3.5.3 3.6 3.6.1 "
    "3.7 3.7.1 3.7.2 3.7.3 3.7.4 3.7.5 3.8 3.8.1 3.8.2 3.8.3 3.8.4 3.8.5 3.8.6 3.8.6.1 3.8.6.2 3.8.6.2.1 "
    "3.8.6.2.2 3.8.6.3 3.9 3.9.1 3.9.1.1 3.9.1.2 3.9.1.3 3.9.1.4 3.9.1.5 3.9.1.6 3.9.1.7 3.9.1.8 3.9.1.9 "
    "3.9.2 3.9.2.1 3.9.2.2 3.9.2.3 3.10 3.10.1 3.10.2 3.10.3 3.10.4 3.10.5 3.10.6 3.10.7 3.10.7.1 3.10.7.2 "
    "3.10.7.3 3.10.7.4 3.10.8 4 5 6 7 8 A B".split()
)
_RFC = re.compile(r"^RFC \d+\b")
_SECTION = re.compile(r"RFC 9293 (?:§|Appendix )([0-9A-B][0-9.]*)")

KINDS = {
    "invariant": "holds in every reachable state (AG p)",
    "reachable": "some reachable state satisfies it (EF p)",
    "recoverable": "from every reachable state (satisfying 'from', if given), a state satisfying it is still "
    "reachable (AG (from -> EF p))",
}
EXPECTS = ("holds", "violated")
# Which composition a property is stated over: the untimed one of
# model/compose.py, or the timed one of model/timed.py (its own vocabulary:
# incarnations, accepted_old, reset).
MODELS = ("untimed", "timed")


@dataclass(frozen=True)
class Property:
    """A named claim about the composed system, with what we expect of it."""

    name: str
    kind: str
    expr: str
    tree: Node
    expect: str
    each: bool
    unless: tuple[str, ...]
    description: str
    path: str
    line: int | None
    source: str | None = None  # the 'from' expression of a recoverable property
    source_tree: Node | None = None
    rfc: str = ""  # the RFC section (and requirement label) the property states
    # ("note3", False, "holds"): with option note3 off, expect "holds" instead
    expect_with: tuple[tuple[str, bool, str], ...] = ()
    model: str = "untimed"  # the composition it is stated over: untimed (model/compose.py) or timed
    only: tuple[str, ...] = ()  # model options that must be on for the property to apply

    def expected(self, options: dict[str, object]) -> str:
        """The verdict expected under these model options (``expect_with``
        first, in file order, then ``expect``); an option the model does not
        have is a located error."""
        for name, value, verdict in self.expect_with:
            if name not in options:
                raise InputError(
                    where(self.path, self.line),
                    f"property {self.name!r} field 'expect_with': unknown option {name!r}; "
                    f"the model has: {', '.join(options)}",
                )
            if bool(options[name]) == value:
                return verdict
        return self.expect

    def roles(self) -> list[tuple[str, dict[str, str]]]:
        """(label, self/peer aliases) per instance: A and B when ``each``, else one unlabelled."""
        return [(ep, {"self": ep, "peer": o}) for ep, o in (("A", "B"), ("B", "A"))] if self.each else [("", {})]

    def fail(self, exc: ExprError) -> NoReturn:
        """Raise an expression error as bad input naming the file and line."""
        raise InputError(where(self.path, self.line), f"property {self.name!r}: {exc}") from None

    def instances(self, system: gcl.System) -> list[tuple[str, gcl.Expr]]:
        """(label, boolean expression) per endpoint when ``each``, else one.

        Typed against ``system``; a type error names the file and line.
        """
        return [(label, expr) for label, expr, _ in self.instances_from(system)]

    def instances_from(self, system: gcl.System) -> list[tuple[str, gcl.Expr, gcl.Expr]]:
        """Like ``instances``, with each instance's 'from' condition (TRUE when absent)."""
        out = []
        for label, aliases in self.roles():
            env: Env = property_env(system, aliases)
            if not self.each:
                # self/peer mean nothing here: say so rather than "unknown name"
                for n in self.tree.names():
                    if n.split(".", 1)[0] in ("self", "peer"):
                        raise InputError(
                            where(self.path, self.line),
                            f"property {self.name!r}: {n!r} needs 'each = true' (self/peer are per endpoint)",
                        )
            try:
                expr = typecheck(self.tree, env)
                source = typecheck(self.source_tree, env) if self.source_tree is not None else gcl.TRUE
            except ExprError as exc:
                self.fail(exc)
            out.append((label, expr, source))
        return out

    def skipped_by(self, options: dict[str, object]) -> str | None:
        """Why this property does not apply under ``options`` ("rfc1337 on",
        "implementation off"), or None when it does."""
        for name in self.unless:
            if options.get(name):
                return f"{name} on"
        for name in self.only:
            if not options.get(name):
                return f"{name} off"
        return None


def default_properties_path() -> Path:
    """The embedded properties file shipped with the package."""
    return Path(str(resources.files("tcpcheck.specs").joinpath("properties.toml")))


@dataclass(frozen=True)
class Requirement:
    """A requirement of RFC 9293 and how the model covers it."""

    id: str
    rfc: str
    text: str
    properties: tuple[str, ...]
    reason: str  # why the model cannot state it (when no property does)
    line: int | None = None


@dataclass(frozen=True)
class Configuration:
    """A model configuration the project checks in: channel bound, faults, spec options."""

    name: str
    description: str
    bound: int
    reorder: bool = False
    loss: bool = False
    duplicate: bool = False
    options: dict[str, bool] = field(default_factory=dict)

    def model_options(self) -> ModelOptions:
        """The composition options of this configuration."""
        return ModelOptions(bound=self.bound, reorder=self.reorder, loss=self.loss, duplicate=self.duplicate,
                            spec_options=dict(self.options))

    def flags(self) -> str:
        """The ``tcpcheck verify`` options that select it."""
        out = [f"-k {self.bound}"]
        out += [f"--{f}" for f in ("reorder", "loss", "duplicate") if getattr(self, f)]
        out += [f"--option {k}={'on' if v else 'off'}" for k, v in sorted(self.options.items())]
        return " ".join(out)


@dataclass(frozen=True)
class PropertyFile:
    """Everything a properties file declares."""

    path: str
    properties: tuple[Property, ...]
    requirements: tuple[Requirement, ...]
    configurations: tuple[Configuration, ...]

    def configuration(self, name: str) -> Configuration:
        """The configuration called ``name``."""
        for c in self.configurations:
            if c.name == name:
                return c
        raise KeyError(name)


def load_properties(path: str | Path | None = None, model: str = "untimed") -> list[Property]:
    """Load and parse a properties file; errors name the file and line.

    Returns the properties stated over ``model`` ("untimed" or "timed").
    """
    return list(load_property_file(path, model).properties)


def _check_rfc(value: str) -> str | None:
    """What is wrong with an `rfc` reference, or None."""
    if not _RFC.match(value):
        return "must start with the RFC it cites, e.g. 'RFC 9293 §3.10.7.4'"
    for section in _SECTION.findall(value):
        if section.rstrip(".") not in RFC9293_SECTIONS:
            return f"RFC 9293 has no section {section!r}"
    return None


def load_property_file(path: str | Path | None = None, model: str = "untimed") -> PropertyFile:
    """Load and validate a properties file (the embedded one by default).

    Its properties are those stated over ``model``; requirements cite
    untimed properties (model/coverage.py checks them over model/compose.py).
    """
    p = Path(path) if path is not None else default_properties_path()
    data, text = read_toml(p)
    rows = data.get("property")
    if not isinstance(rows, list) or not rows:
        raise InputError(str(p), "no properties: declare each with a [[property]] table")
    extra = set(data) - {"property", "requirement", "configuration"}
    if extra:
        raise InputError(str(p), f"unknown top-level table {sorted(extra)[0]!r}; "
                         "the tables are [[property]], [[requirement]] and [[configuration]]")
    properties = _load_rows(p, text, rows)
    untimed = {q.name for q in properties if q.model == "untimed"}
    requirements = _load_requirements(p, text, data.get("requirement", []), untimed)
    configurations = _load_configurations(p, text, data.get("configuration", []))
    return PropertyFile(str(p), tuple(q for q in properties if q.model == model), requirements, configurations)


def _failer(p: Path, text: str, table: str, i: int) -> Any:
    def fail(key: str | None, message: str) -> InputError:
        line = locate(text, table, i, key)
        return InputError(
            where(str(p), line), f"[[{table}]] #{i + 1}" + (f" field '{key}'" if key else "") + f": {message}"
        )

    return fail


def _row_failer(p: Path, text: str, table: str, i: int, row: Any, allowed: set[str]) -> Any:
    """The located error maker for row ``i`` of ``[[table]]``, once the row is
    a table holding only ``allowed`` fields."""
    fail = _failer(p, text, table, i)
    if not isinstance(row, dict):
        raise fail(None, "must be a table")
    for key in row:
        if key not in allowed:
            raise fail(key, f"unknown field; allowed: {', '.join(sorted(allowed))}")
    return fail


def _load_requirements(p: Path, text: str, rows: Any, names: set[str]) -> tuple[Requirement, ...]:
    if not isinstance(rows, list):
        raise InputError(str(p), "'requirement' must be an array of tables written [[requirement]]")
    out: list[Requirement] = []
    covered: set[str] = set()
    allowed = {"id", "rfc", "text", "properties", "reason"}
    for i, row in enumerate(rows):
        fail = _row_failer(p, text, "requirement", i, row, allowed)
        for key in ("id", "rfc", "text"):
            if not isinstance(row.get(key), str) or not row[key].strip():
                raise fail(key if key in row else None, f"needs a non-empty string field '{key}'")
        if any(r.id == row["id"] for r in out):
            raise fail("id", f"requirement {row['id']!r} is declared twice")
        if problem := _check_rfc(row["rfc"]):
            raise fail("rfc", problem)
        props = row.get("properties", [])
        reason = row.get("reason", "")
        if not isinstance(props, list) or not all(isinstance(x, str) for x in props):
            raise fail("properties", "must be a list of property names")
        if not isinstance(reason, str):
            raise fail("reason", "must be a string")
        if bool(props) == bool(reason.strip()):
            raise fail(None, "give either 'properties' (the properties that state it) or 'reason' "
                       "(why the model cannot), not both or neither")
        for name in props:
            if name not in names:
                raise fail("properties", f"no property {name!r} in this file")
        covered.update(props)
        out.append(Requirement(row["id"], row["rfc"], row["text"], tuple(props), reason,
                               locate(text, "requirement", i)))
    if out and names - covered:
        raise InputError(str(p), f"property {sorted(names - covered)[0]!r} states no requirement: "
                         "list it under the [[requirement]] it states")
    return tuple(out)


def _load_configurations(p: Path, text: str, rows: Any) -> tuple[Configuration, ...]:
    if not isinstance(rows, list):
        raise InputError(str(p), "'configuration' must be an array of tables written [[configuration]]")
    out: list[Configuration] = []
    allowed = {"name", "description", "bound", "reorder", "loss", "duplicate", "options", "profile"}
    for i, row in enumerate(rows):
        fail = _row_failer(p, text, "configuration", i, row, allowed)
        name = row.get("name")
        if not isinstance(name, str) or not name or any(c.name == name for c in out):
            raise fail("name" if "name" in row else None, "needs a unique string field 'name'")
        bound = row.get("bound")
        if not isinstance(bound, int) or isinstance(bound, bool) or not 1 <= bound <= MAX_BOUND:
            raise fail("bound" if "bound" in row else None, f"needs 'bound', an integer from 1 to {MAX_BOUND}")
        faults = {}
        for key in ("reorder", "loss", "duplicate"):
            faults[key] = row.get(key, False)
            if not isinstance(faults[key], bool):
                raise fail(key, "must be true or false")
        options = row.get("options", {})
        if not isinstance(options, dict) or not all(isinstance(v, bool) for v in options.values()):
            raise fail("options", "must be a table of spec options set to true or false")
        if "profile" in row:
            # the stack's options are declared once, in its profile
            if "options" in row:
                raise fail("profile", "name a profile or list 'options', not both (the profile declares its options)")
            options = _profile_options(row["profile"], fail)
        if not isinstance(row.get("description", ""), str):
            raise fail("description", "must be a string")
        out.append(Configuration(name, row.get("description", ""), bound, options=dict(options), **faults))
    return tuple(out)


def _profile_options(name: Any, fail: Any) -> dict[str, bool]:
    """The model options the shipped stack profile ``name`` declares in its
    ``[profile]`` table (specs/profiles/NAME.toml)."""
    shipped = resources.files("tcpcheck.specs.profiles")
    known = sorted(f.name[:-5] for f in shipped.iterdir() if f.name.endswith(".toml"))
    if not isinstance(name, str) or name not in known:
        raise fail("profile", f"must name a shipped profile: {', '.join(known)}")
    where = Path(str(shipped.joinpath(f"{name}.toml")))
    head = read_toml(where)[0].get("profile", {})
    options = head.get("options", {}) if isinstance(head, dict) else None
    if not isinstance(options, dict) or not all(isinstance(v, bool) for v in options.values()):
        raise InputError(f"{where}: [profile]", "options must be a table of model option = true/false")
    return dict(options)


def _load_rows(p: Path, text: str, rows: list[Any]) -> list[Property]:
    out: list[Property] = []
    names: set[str] = set()
    allowed = {"name", "kind", "expr", "expect", "expect_with", "each", "unless", "only", "description", "from",
               "rfc", "model"}
    for i, row in enumerate(rows):
        fail = _row_failer(p, text, "property", i, row, allowed)
        for key in ("name", "kind", "expr", "expect", "rfc"):
            if not isinstance(row.get(key), str):
                raise fail(None if key not in row else key, f"needs a string field '{key}'")
        name = row["name"]
        if not NAME.match(name):  # it names files (verify --draw) and Promela checks
            raise fail("name", f"{name[:40]!r} {NAME_RULE}")
        for key in ("description", "expr", "rfc", "from"):
            if isinstance(row.get(key), str) and len(row[key]) > MAX_TEXT:
                raise fail(key, f"longer than {MAX_TEXT} characters")
        if name in names:
            raise fail("name", f"property {name!r} is declared twice")
        names.add(name)
        if row["kind"] not in KINDS:
            raise fail("kind", f"unknown kind {row['kind']!r}; use one of: {', '.join(KINDS)}")
        if row["expect"] not in EXPECTS:
            raise fail("expect", f"expect must be 'holds' or 'violated', not {row['expect']!r}")
        if problem := _check_rfc(row["rfc"]):
            raise fail("rfc", problem)
        each = row.get("each", False)
        if not isinstance(each, bool):
            raise fail("each", "must be true or false")
        named: dict[str, list[str]] = {}
        for key in ("unless", "only"):
            value = row.get(key, [])
            if isinstance(value, str):
                value = [value]
            if not isinstance(value, list) or not all(isinstance(u, str) and NAME.match(u) for u in value):
                raise fail(key, "must be an option name or a list of them")
            named[key] = value
        if not isinstance(row.get("description", ""), str):
            raise fail("description", "must be a string")
        expect_with = []
        raw_with = row.get("expect_with", {})
        if not isinstance(raw_with, dict):
            raise fail("expect_with", 'must be a table such as { "note3=off" = "holds" }')
        for setting, verdict in raw_with.items():
            option, sep, value = setting.partition("=")
            if not sep or not option or value not in ("on", "off"):
                raise fail("expect_with", f"{setting!r} is not NAME=on or NAME=off (e.g. \"note3=off\")")
            if verdict not in EXPECTS:
                raise fail("expect_with", f"{setting!r} must map to 'holds' or 'violated', not {verdict!r}")
            expect_with.append((option, value == "on", verdict))
        stated_over = row.get("model", "untimed")
        if stated_over not in MODELS:
            raise fail("model", f"model must be one of {', '.join(MODELS)}, not {stated_over!r}")
        line = locate(text, "property", i, "expr")
        try:
            tree = parse(row["expr"])
        except ExprError as exc:
            raise InputError(where(str(p), line), f"property {name!r}: {exc}") from None
        source = row.get("from")
        source_tree = None
        if source is not None:
            if row["kind"] != "recoverable" or not isinstance(source, str):
                raise fail("from", "'from' is a string, and only for kind = \"recoverable\"")
            try:
                source_tree = parse(source)
            except ExprError as exc:
                raise InputError(
                    where(str(p), locate(text, "property", i, "from")), f"property {name!r} field 'from': {exc}"
                ) from None
        out.append(
            Property(
                name=name,
                kind=row["kind"],
                expr=row["expr"],
                tree=tree,
                expect=row["expect"],
                each=each,
                unless=tuple(named["unless"]),
                only=tuple(named["only"]),
                description=str(row.get("description", "")),
                path=str(p),
                line=line,
                source=source,
                source_tree=source_tree,
                rfc=row["rfc"],
                expect_with=tuple(expect_with),
                model=stated_over,
            )
        )
    return out


__all__ = ["ENDPOINTS", "KINDS", "Configuration", "Property", "PropertyFile", "Requirement", "default_properties_path",
           "load_properties", "load_property_file"]
