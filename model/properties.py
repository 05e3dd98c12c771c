"""Properties as data (``specs/properties.toml``), parsed with located errors."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from tcpcheck.model import gcl
from tcpcheck.model.compose import ENDPOINTS, property_env
from tcpcheck.model.errors import InputError, locate, where
from tcpcheck.model.expr import Env, ExprError, Node, parse, typecheck
from tcpcheck.model.spec import read_toml

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
    # ("note3", False, "holds"): with option note3 off, expect "holds" instead
    expect_with: tuple[tuple[str, bool, str], ...] = ()

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
    model: str = "untimed"

    def instances(self, system: gcl.System) -> list[tuple[str, gcl.Expr]]:
        """(label, boolean expression) per endpoint when ``each``, else one.

        Typed against ``system``; a type error names the file and line.
        """
        return [(label, expr) for label, expr, _ in self.instances_from(system)]

    def instances_from(self, system: gcl.System) -> list[tuple[str, gcl.Expr, gcl.Expr]]:
        """Like ``instances``, with each instance's 'from' condition (TRUE when absent)."""
        roles = [(ep, {"self": ep, "peer": o}) for ep, o in (("A", "B"), ("B", "A"))] if self.each else [("", {})]
        out = []
        for label, aliases in roles:
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
                raise InputError(where(self.path, self.line), f"property {self.name!r}: {exc}") from None
            out.append((label, expr, source))
        return out

    def skipped_by(self, options: dict[str, object]) -> str | None:
        """The option that makes this property not apply, if any."""
        for name in self.unless:
            if options.get(name):
                return name
        return None


def default_properties_path() -> Path:
    """The embedded properties file shipped with the package."""
    return Path(str(resources.files("tcpcheck.specs").joinpath("properties.toml")))


def load_properties(path: str | Path | None = None, model: str = "untimed") -> list[Property]:
    """Load and parse a properties file; errors name the file and line.

    Returns the properties stated over ``model`` ("untimed" or "timed").
    """
    p = Path(path) if path is not None else default_properties_path()
    data, text = read_toml(p)
    rows = data.get("property")
    if not isinstance(rows, list) or not rows:
        raise InputError(str(p), "no properties: declare each with a [[property]] table")
    extra = set(data) - {"property"}
    if extra:
        raise InputError(str(p), f"unknown top-level table {sorted(extra)[0]!r}; only [[property]] is allowed")
    out: list[Property] = []
    names: set[str] = set()
    allowed = {"name", "kind", "expr", "expect", "expect_with", "each", "unless", "description", "from", "model"}
    for i, row in enumerate(rows):

        def fail(key: str | None, message: str, i: int = i) -> InputError:
            line = locate(text, "property", i, key)
            return InputError(
                where(str(p), line), f"[[property]] #{i + 1}" + (f" field '{key}'" if key else "") + f": {message}"
            )

        if not isinstance(row, dict):
            raise fail(None, "must be a table")
        for key in row:
            if key not in allowed:
                raise fail(key, f"unknown field; allowed: {', '.join(sorted(allowed))}")
        for key in ("name", "kind", "expr", "expect"):
            if not isinstance(row.get(key), str):
                raise fail(None if key not in row else key, f"needs a string field '{key}'")
        name = row["name"]
        if name in names:
            raise fail("name", f"property {name!r} is declared twice")
        names.add(name)
        if row["kind"] not in KINDS:
            raise fail("kind", f"unknown kind {row['kind']!r}; use one of: {', '.join(KINDS)}")
        if row["expect"] not in EXPECTS:
            raise fail("expect", f"expect must be 'holds' or 'violated', not {row['expect']!r}")
        each = row.get("each", False)
        if not isinstance(each, bool):
            raise fail("each", "must be true or false")
        unless = row.get("unless", [])
        if isinstance(unless, str):
            unless = [unless]
        if not isinstance(unless, list) or not all(isinstance(u, str) for u in unless):
            raise fail("unless", "must be an option name or a list of them")
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
                unless=tuple(unless),
                description=str(row.get("description", "")),
                path=str(p),
                line=line,
                source=source,
                source_tree=source_tree,
                expect_with=tuple(expect_with),
                model=stated_over,
            )
        )
    return [prop for prop in out if prop.model == model]


__all__ = ["ENDPOINTS", "KINDS", "Property", "default_properties_path", "load_properties"]
