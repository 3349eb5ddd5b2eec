"""The run-search filter language: a tokenizer and a recursive-descent parser to a small AST.

Grammar (keywords are case-insensitive)::

    filter     := or_expr
    or_expr    := and_expr ("OR" and_expr)*
    and_expr   := not_expr ("AND" not_expr)*
    not_expr   := "NOT" not_expr | primary
    primary    := "(" or_expr ")" | predicate
    predicate  := ident op literal
                | ident ["NOT"] "IN" "(" literal ("," literal)* ")"
                | ident ["NOT"] ("LIKE" | "ILIKE") string
                | ident "IS" ["NOT"] "NULL"
    ident      := entity "." name          entity: params | metrics | tags | attributes
                                            (also param, metric, tag, attribute, attr, run)
                | attribute-name           a bare attribute: status, run_name, start_time, ...
    name       := word | `back-quoted` | "double-quoted"
    op         := "=" | "==" | "!=" | "<>" | "<" | "<=" | ">" | ">="
    literal    := number | 'single-quoted' | "double-quoted" | TRUE | FALSE

The AST is backend-neutral; each metadata store compiles it (the SQL store to a WHERE clause).
Errors quote the filter and point at the offending token.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Union

from shipyard.exceptions import FilterSyntaxError

#: Attributes a filter or order-by may name, with their kind.
ATTRIBUTES: dict[str, str] = {
    "run_id": "str",
    "run_name": "str",
    "status": "str",
    "user": "str",
    "host": "str",
    "start_time": "num",
    "end_time": "num",
    "duration": "num",
    "experiment_id": "str",
    "parent_run_id": "str",
    "git_commit": "str",
    "artifact_uri": "str",
}
_ATTRIBUTE_ALIASES = {"id": "run_id", "name": "run_name", "run_uuid": "run_id", "created": "start_time", "user_id": "user"}

_ENTITY = {
    "params": "params",
    "param": "params",
    "metrics": "metrics",
    "metric": "metrics",
    "tags": "tags",
    "tag": "tags",
    "attributes": "attributes",
    "attribute": "attributes",
    "attr": "attributes",
    "run": "attributes",
}

Literal = Union[str, float, int, bool]


@dataclass(frozen=True, slots=True)
class Field:
    entity: str  # params | metrics | tags | attributes
    key: str


@dataclass(frozen=True, slots=True)
class Compare:
    field: Field
    op: str  # = != < <= > >= like ilike "not like" "not ilike" in "not in" "is null" "is not null"
    value: Literal | tuple[Literal, ...] | None


@dataclass(frozen=True, slots=True)
class And:
    items: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Or:
    items: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Not:
    item: Node


Node = Union[Compare, And, Or, Not]


@dataclass(frozen=True, slots=True)
class OrderBy:
    field: Field
    descending: bool


@dataclass(frozen=True, slots=True)
class _Tok:
    kind: str  # ident, number, string, op, lparen, rparen, comma, dot, end
    text: str
    pos: int
    quoted: bool = False


_TOKEN_RE = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<number>[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?(?![A-Za-z_]))
  | (?P<squote>'(?:[^'\\]|\\.|'')*')
  | (?P<dquote>"(?:[^"\\]|\\.|"")*")
  | (?P<bquote>`[^`]*`)
  | (?P<op>==|!=|<>|<=|>=|=|<|>)
  | (?P<lparen>\()
  | (?P<rparen>\))
  | (?P<comma>,)
  | (?P<dot>\.)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_\-:/]*)
    """,
    re.VERBOSE,
)


def _unquote(text: str) -> str:
    quote = text[0]
    body = text[1:-1]
    body = body.replace(quote * 2, quote)
    return re.sub(r"\\(.)", r"\1", body)


def _tokenize(text: str) -> list[_Tok]:
    tokens: list[_Tok] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN_RE.match(text, pos)
        if m is None:
            snippet = text[pos : pos + 10]
            if snippet[:1] in "'\"`":
                raise FilterSyntaxError(f"Unterminated quoted string starting at character {pos}", text, pos)
            raise FilterSyntaxError(f"Unexpected character {snippet[:1]!r} at character {pos}", text, pos)
        kind = m.lastgroup or ""
        value = m.group()
        if kind == "squote":
            tokens.append(_Tok("string", _unquote(value), pos, True))
        elif kind == "dquote":
            tokens.append(_Tok("dstring", _unquote(value), pos, True))
        elif kind == "bquote":
            tokens.append(_Tok("bident", value[1:-1], pos, True))
        elif kind != "ws":
            tokens.append(_Tok(kind, value, pos))
        pos = m.end()
    tokens.append(_Tok("end", "", len(text)))
    return tokens


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.i = 0

    # -- helpers -----------------------------------------------------------------------------
    @property
    def tok(self) -> _Tok:
        return self.tokens[self.i]

    def _advance(self) -> _Tok:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def _is_kw(self, *words: str) -> bool:
        return self.tok.kind == "ident" and self.tok.text.upper() in words

    def _error(self, message: str, tok: _Tok | None = None) -> FilterSyntaxError:
        tok = tok or self.tok
        shown = "end of filter" if tok.kind == "end" else repr(tok.text)
        return FilterSyntaxError(f"Invalid filter: {message}, found {shown} at character {tok.pos}", self.text, tok.pos)

    # -- grammar -----------------------------------------------------------------------------
    def parse(self) -> Node:
        node = self._or()
        if self.tok.kind != "end":
            raise self._error("expected AND, OR or the end of the filter")
        return node

    def _or(self) -> Node:
        items = [self._and()]
        while self._is_kw("OR"):
            self._advance()
            items.append(self._and())
        return items[0] if len(items) == 1 else Or(tuple(items))

    def _and(self) -> Node:
        items = [self._not()]
        while self._is_kw("AND"):
            self._advance()
            items.append(self._not())
        return items[0] if len(items) == 1 else And(tuple(items))

    def _not(self) -> Node:
        if self._is_kw("NOT"):
            self._advance()
            return Not(self._not())
        return self._primary()

    def _primary(self) -> Node:
        if self.tok.kind == "lparen":
            self._advance()
            node = self._or()
            if self.tok.kind != "rparen":
                raise self._error("expected ')' to close the parenthesis")
            self._advance()
            return node
        return self._predicate()

    def field(self) -> Field:
        tok = self.tok
        if tok.kind not in ("ident", "bident"):
            raise self._error("expected a field such as metrics.auc, params.lr, tags.team or attributes.status")
        self._advance()
        head = tok.text
        if tok.kind == "ident" and head.lower() in _ENTITY and self.tok.kind == "dot":
            self._advance()
            key_tok = self.tok
            if key_tok.kind not in ("ident", "bident", "dstring", "number"):
                raise self._error(f"expected a name after '{head}.'")
            self._advance()
            key = key_tok.text
            # Allow dotted keys written without quotes: params.model.depth
            while self.tok.kind == "dot" and key_tok.kind == "ident":
                self._advance()
                nxt = self.tok
                if nxt.kind not in ("ident", "number"):
                    raise self._error("expected a name after '.'")
                self._advance()
                key += "." + nxt.text
            entity = _ENTITY[head.lower()]
            if entity == "attributes":
                return Field("attributes", self._attribute(key, key_tok))
            return Field(entity, key)
        if tok.kind == "ident":
            return Field("attributes", self._attribute(head, tok))
        raise FilterSyntaxError(
            f"Invalid filter: `{head}` needs an entity prefix, e.g. params.`{head}`", self.text, tok.pos
        )

    def _attribute(self, name: str, tok: _Tok) -> str:
        key = _ATTRIBUTE_ALIASES.get(name.lower(), name.lower())
        if key not in ATTRIBUTES:
            raise FilterSyntaxError(
                f"Invalid filter: unknown field {name!r} at character {tok.pos}. Use params.<name>, metrics.<name>, "
                f"tags.<name>, or an attribute: {', '.join(sorted(ATTRIBUTES))}",
                self.text,
                tok.pos,
            )
        return key

    def _literal(self) -> Literal:
        tok = self.tok
        if tok.kind == "number":
            self._advance()
            text = tok.text
            if re.fullmatch(r"[-+]?\d+", text):
                return int(text)
            return float(text)
        if tok.kind in ("string", "dstring"):
            self._advance()
            return tok.text
        if self._is_kw("TRUE", "FALSE"):
            self._advance()
            return tok.text.upper() == "TRUE"
        raise self._error("expected a value: a number or a quoted string such as 'lgbm'")

    def _predicate(self) -> Node:
        fld = self.field()
        tok = self.tok
        if tok.kind == "op":
            self._advance()
            op = {"==": "=", "<>": "!="}.get(tok.text, tok.text)
            value = self._literal()
            return Compare(fld, op, value)
        negate = False
        if self._is_kw("IS"):
            self._advance()
            if self._is_kw("NOT"):
                self._advance()
                negate = True
            if not self._is_kw("NULL"):
                raise self._error("expected NULL after IS")
            self._advance()
            return Compare(fld, "is not null" if negate else "is null", None)
        if self._is_kw("NOT"):
            self._advance()
            negate = True
            if not self._is_kw("IN", "LIKE", "ILIKE"):
                raise self._error("expected IN, LIKE or ILIKE after NOT")
        if self._is_kw("IN"):
            self._advance()
            if self.tok.kind != "lparen":
                raise self._error("expected '(' after IN")
            self._advance()
            values = [self._literal()]
            while self.tok.kind == "comma":
                self._advance()
                values.append(self._literal())
            if self.tok.kind != "rparen":
                raise self._error("expected ',' or ')' in the IN list")
            self._advance()
            return Compare(fld, "not in" if negate else "in", tuple(values))
        if self._is_kw("LIKE", "ILIKE"):
            word = self._advance().text.lower()
            pattern_tok = self.tok
            value = self._literal()
            if not isinstance(value, str):
                raise self._error(f"{word.upper()} needs a quoted pattern such as 'xgb%'", pattern_tok)
            return Compare(fld, ("not " if negate else "") + word, value)
        raise self._error("expected a comparison (=, !=, <, <=, >, >=), IN, LIKE, ILIKE or IS NULL")


def parse_filter(text: str | None) -> Node | None:
    """Parse a filter string; ``None`` or blank means no filter.

    Raises:
        FilterSyntaxError: the text is malformed; the message quotes it and points at the bad token.
    """
    if text is None or not text.strip():
        return None
    return _Parser(text).parse()


def parse_order_by(clauses: list[str] | tuple[str, ...] | str | None) -> tuple[OrderBy, ...]:
    """Parse order-by clauses such as ``["metrics.auc DESC", "start_time"]``.

    Raises:
        FilterSyntaxError: a clause is malformed.
    """
    if clauses is None:
        return ()
    if isinstance(clauses, str):
        clauses = [clauses]
    result = []
    for clause in clauses:
        parser = _Parser(clause)
        fld = parser.field()
        descending = False
        if parser._is_kw("DESC", "ASC"):
            descending = parser._advance().text.upper() == "DESC"
        if parser.tok.kind != "end":
            raise parser._error("expected ASC, DESC or the end of the order-by clause")
        result.append(OrderBy(fld, descending))
    return tuple(result)
