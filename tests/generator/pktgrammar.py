"""A checker for the subset of packetdrill's script grammar that tcpcheck emits.

Written from google/packetdrill's ``gtests/net/packetdrill/lexer.l`` (token
rules, longest match, first rule on a tie) and ``parser.y`` (the ``script``,
``event``, ``event_time``, ``tcp_packet_spec``, ``syscall_spec``,
``expression``, ``command_spec`` and ``code_spec`` rules), plus the semantic
checks the parser makes on them (inbound packets need ``win`` and cannot use
``<...>``; time ranges only on outbound packets; valid TCP flag letters from
``tcp_packet.c``). No packetdrill code is copied or built.

``check(text)`` returns a list of ``line: message`` errors (empty: accepted).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# lexer.l keywords that matter to the emitted subset (each is its own token).
KEYWORDS = {
    "ack": "ACK", "win": "WIN", "mss": "MSS", "nop": "NOP", "eol": "EOL", "sackOK": "SACKOK", "wscale": "WSCALE",
    "TS": "TIMESTAMP", "val": "VAL", "ecr": "ECR", "urg": "URG", "onoff": "ONOFF", "linger": "LINGER",
    "fd": "FD", "events": "EVENTS", "seq": "SEQ", "none": "NONE", "sack": "SACK", "id": "ID", "ttl": "TTL",
    "flags": "FLAGS", "Flags": "FLAGS", "tos": "TOS", "udp": "UDP", "icmp": "ICMP", "ipv4": "IPV4", "ipv6": "IPV6",
}
# Flex rules after the keywords, in file order.
RULES = [
    ("ELLIPSIS", re.compile(r"\.\.\.")),
    ("OPTION", re.compile(r"--[a-zA-Z0-9_]+")),
    ("FLOAT", re.compile(r"-?[0-9]*\.[0-9]+")),
    ("INTEGER", re.compile(r"-?[0-9]+")),
    ("HEX_INTEGER", re.compile(r"0x[0-9a-fA-F]+")),
    ("WORD", re.compile(r"[a-zA-Z0-9_]+")),
    ("STRING", re.compile(r'"(\\.|[^"])*"')),
    ("BACK_QUOTED", re.compile(r"`(\\.|[^`])*`")),
    ("CHAR", re.compile(r"[^ \t\n]")),
    ("WS", re.compile(r"[ \t\n]+")),
    ("COMMENT", re.compile(r"//[^\n]*\n")),
    ("COMMENT", re.compile(r"/\*(([^*])|(\*[^/]))*\*/")),
    ("CODE", re.compile(r"%\{(([^}])|(\}[^%]))*\}%")),
    ("IPV4_ADDR", re.compile(r"[0-9]+[.][0-9]+[.][0-9]+[.][0-9]+")),
]
VALID_FLAGS = set(".FSRPEWAU01234567")


@dataclass(frozen=True)
class Tok:
    kind: str
    text: str
    line: int


class GrammarError(Exception):
    pass


def tokens(text: str) -> list[Tok]:
    """Tokenise like flex: the longest match, the first rule on a tie."""
    out: list[Tok] = []
    pos, line = 0, 1
    while pos < len(text):
        best: tuple[int, str] | None = None
        for word, kind in KEYWORDS.items():
            if text.startswith(word, pos) and (best is None or len(word) > best[0]):
                best = (len(word), kind)
        for kind, rx in RULES:
            m = rx.match(text, pos)
            if m and m.end() > pos and (best is None or m.end() - pos > best[0]):
                best = (m.end() - pos, kind)
        assert best is not None
        size, kind = best
        chunk = text[pos:pos + size]
        if kind not in ("WS", "COMMENT"):
            out.append(Tok(kind if kind != "CHAR" else chunk, chunk, line))
        line += chunk.count("\n")
        pos += size
    return out


class _Parser:
    def __init__(self, toks: list[Tok]) -> None:
        self.toks = toks
        self.i = 0

    def peek(self, k: int = 0) -> Tok | None:
        return self.toks[self.i + k] if self.i + k < len(self.toks) else None

    def at(self, *kinds: str) -> bool:
        t = self.peek()
        return t is not None and t.kind in kinds

    def take(self, *kinds: str) -> Tok:
        t = self.peek()
        if t is None or t.kind not in kinds:
            where = t.line if t else (self.toks[-1].line if self.toks else 0)
            raise GrammarError(f"{where}: expected {' or '.join(kinds)}, found {t.text if t else 'end of script'!r}")
        self.i += 1
        return t

    # script: opt_options opt_init_command events opt_cleanup_command
    def script(self) -> None:
        while self.at("OPTION"):
            self.take("OPTION")
            if self.at("="):
                self.take("=")
                self.take("INTEGER", "WORD", "STRING", "IPV4_ADDR", "IPV4", "IPV6")
        if self.at("BACK_QUOTED") and self.peek(1) is not None and self.peek(1).kind in ("+", "INTEGER", "FLOAT"):
            self.take("BACK_QUOTED")  # init command
        if not self.toks[self.i:]:
            raise GrammarError("0: a script needs at least one event")
        while self.peek() is not None:
            if self.at("BACK_QUOTED") and self.peek(1) is None:
                self.take("BACK_QUOTED")  # cleanup command
                break
            self.event()

    def time(self) -> None:
        t = self.take("FLOAT", "INTEGER")
        if t.text.startswith("-"):
            raise GrammarError(f"{t.line}: negative time")

    def event(self) -> None:
        line = self.peek().line  # type: ignore[union-attr]
        ranged = False
        if self.at("*"):
            self.take("*")
            ranged = True
        elif self.at("+"):
            self.take("+")
            self.time()
            if self.at("~"):
                self.take("~")
                self.take("+")
                self.time()
                ranged = True
        else:
            self.time()
            if self.at("~"):
                self.take("~")
                self.time()
                ranged = True
        if self.at("<", ">"):
            direction = self.take("<", ">").kind
            if ranged and direction != ">":
                raise GrammarError(f"{line}: event time range can only be used with outbound packets")
            self.tcp_packet(direction, line)
            return
        if ranged:
            raise GrammarError(f"{line}: event time range can only be used with outbound packets")
        if self.at("BACK_QUOTED", "CODE"):
            self.take("BACK_QUOTED", "CODE")
            return
        self.syscall()

    def tcp_packet(self, direction: str, line: int) -> None:
        # flags: WORD opt_ack_flag | '.' | '-'
        if self.at("WORD"):
            flags = self.take("WORD").text
            if self.at("."):
                self.take(".")
                flags += "."
        else:
            flags = self.take(".", "-").text
        bad = set(flags) - VALID_FLAGS - {"-"}
        if bad:
            raise GrammarError(f"{line}: Invalid TCP flag: {sorted(bad)[0]!r}")
        # seq: INTEGER ':' INTEGER '(' INTEGER ')'
        start = int(self.take("INTEGER").text)
        self.take(":")
        end = int(self.take("INTEGER").text)
        self.take("(")
        size = int(self.take("INTEGER").text)
        self.take(")")
        if end - start != size:
            raise GrammarError(f"{line}: inconsistent TCP sequence numbers and payload size")
        if self.at("ACK"):
            self.take("ACK")
            self.take("INTEGER")
        window = False
        if self.at("WIN"):
            self.take("WIN")
            self.take("INTEGER")
            window = True
        if self.at("URG"):
            self.take("URG")
            self.take("INTEGER")
        if direction == "<" and not window:
            raise GrammarError(f"{line}: window must be specified for inbound packets")
        if self.at("<"):
            self.take("<")
            if self.at("ELLIPSIS"):
                self.take("ELLIPSIS")
                if direction == "<":
                    raise GrammarError(f"{line}: <...> for TCP options can only be used with outbound packets")
            else:
                self.tcp_option()
                while self.at(","):
                    self.take(",")
                    self.tcp_option()
            self.take(">")

    def tcp_option(self) -> None:
        t = self.take("NOP", "EOL", "MSS", "WSCALE", "SACKOK", "TIMESTAMP")
        if t.kind in ("MSS", "WSCALE"):
            self.take("INTEGER")
        elif t.kind == "TIMESTAMP":
            self.take("VAL")
            self.take("INTEGER")
            self.take("ECR")
            self.take("INTEGER")

    # syscall_spec: opt_end_time function_name function_arguments '=' expression opt_errno opt_note
    def syscall(self) -> None:
        if self.at("ELLIPSIS"):
            self.take("ELLIPSIS")
            self.time()
        self.take("WORD")
        self.take("(")
        if not self.at(")"):
            self.expression()
            while self.at(","):
                self.take(",")
                self.expression()
        self.take(")")
        self.take("=")
        self.expression()
        if self.at("WORD"):  # errno, then its note
            self.take("WORD")
            self.note()
        elif self.at("("):
            self.note()

    def note(self) -> None:
        self.take("(")
        self.take("WORD", "FLAGS")
        while self.at("WORD"):
            self.take("WORD")
        self.take(")")

    def expression(self) -> None:
        self.primary()
        while self.at("|"):
            self.take("|")
            self.primary()

    def primary(self) -> None:
        if self.at("WORD") and self.peek(1) is not None and self.peek(1).kind == "=":  # type: ignore[union-attr]
            self.take("WORD")
            self.take("=")
            self.expression()
            return
        if self.at("ELLIPSIS", "INTEGER", "HEX_INTEGER", "WORD"):
            self.take("ELLIPSIS", "INTEGER", "HEX_INTEGER", "WORD")
            return
        if self.at("STRING"):
            while self.at("STRING"):
                self.take("STRING")
            return
        if self.at("["):
            self.take("[")
            if not self.at("]"):
                self.expression()
                while self.at(","):
                    self.take(",")
                    self.expression()
            self.take("]")
            return
        if self.at("{") and self.peek(1) is not None and self.peek(1).kind == "ONOFF":  # type: ignore[union-attr]
            # linger: '{' ONOFF '=' INTEGER ',' LINGER '=' INTEGER '}'
            for kind in ("{", "ONOFF", "=", "INTEGER", ",", "LINGER", "=", "INTEGER", "}"):
                self.take(kind)
            return
        if self.at("{"):
            self.take("{")
            self.expression()
            while self.at(","):
                self.take(",")
                self.expression()
            self.take("}")
            return
        t = self.peek()
        raise GrammarError(f"{t.line if t else 0}: unexpected {t.text if t else 'end of script'!r} in an expression")


def check(text: str) -> list[str]:
    """Errors in ``text`` as ``line: message``; empty when packetdrill's grammar accepts it."""
    try:
        _Parser(tokens(text)).script()
    except GrammarError as exc:
        return [str(exc)]
    return []
