"""Stage 1: the tokenizer. Text in, a list of :class:`Token` out (ending in EOF)."""

from __future__ import annotations

from dataclasses import dataclass

from fdscope.insights._errors import QuerySyntaxError

# token kinds
IDENT = "IDENT"  # field or keyword; value is the dotted name, segments in ``parts``
STRING = "STRING"  # "..." or '...'; value is the unescaped text
NUMBER = "NUMBER"  # value is the text; ``number`` the float
DURATION = "DURATION"  # 5m, 1h, 30sec; value is the text, ``number`` milliseconds
REGEX = "REGEX"  # /.../; value is the pattern
TIME = "TIME"  # the raw word after start= / end= of SOURCE (-1d, now, 2026-01-23T00:00:00Z)
OP = "OP"  # punctuation and operators
EOF = "EOF"

# unit spellings (AWS "stats" page: every multi-letter unit may take a plural s)
_UNITS_MS: dict[str, int] = {}
for _names, _ms in (
    (("millisecond", "ms", "msec"), 1),
    (("second", "s", "sec"), 1000),
    (("minute", "m", "min"), 60_000),
    (("hour", "h", "hr"), 3_600_000),
    (("day", "d"), 86_400_000),
    (("week", "w"), 604_800_000),
    (("month", "mo", "mon"), -1),  # calendar units: negative markers
    (("quarter", "q", "qtr"), -3),
    (("year", "y", "yr"), -12),
):
    for _n in _names:
        _UNITS_MS[_n] = _ms
        if len(_n) > 1:
            _UNITS_MS[_n + "s"] = _ms

_OPERATORS: tuple[str, ...] = (
    "==",
    "!=",
    "<=",
    ">=",
    "=~",
    "|",
    ",",
    "(",
    ")",
    "[",
    "]",
    "+",
    "-",
    "*",
    "/",
)
_OPERATORS += ("%", "^", "=", "<", ">", "!", ":", "{", "}")
# after these keywords a "/" starts a regular expression, not a division
_REGEX_AFTER_WORDS = frozenset({"like", "filter", "where", "and", "or", "not", "parse", "in"})
_VALUE_KINDS = frozenset({IDENT, STRING, NUMBER, DURATION, REGEX})
_DIGITS = frozenset("0123456789")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "'": "'", "0": "\0"}


@dataclass(frozen=True)
class Token:
    """One token: ``kind``, ``value``, ``start``/``end`` offsets into the query."""

    kind: str
    value: str
    start: int
    end: int
    parts: tuple[str, ...] = ()
    number: float = 0.0
    quoted: bool = False  # an identifier written with backticks somewhere

    def is_word(self, *words: str) -> bool:
        """True when this is an unquoted identifier equal (case-insensitively) to a word."""
        return self.kind == IDENT and not self.quoted and self.value.lower() in words


def unit_ms(unit: str) -> int | None:
    """Milliseconds of a time unit (negative: months of a calendar unit), None if unknown."""
    return _UNITS_MS.get(unit.lower())


def tokenize(query: str) -> list[Token]:
    """Split a Logs Insights query into tokens; raises QuerySyntaxError on bad input."""
    if not isinstance(query, str):
        raise TypeError("query must be a str")
    toks: list[Token] = []
    i, n = 0, len(query)
    cmd_word: str | None = None  # first word of the current command
    in_cmd = 0  # tokens so far in the current command
    while i < n:
        ch = query[i]
        if ch in " \t\r\n":
            i += 1
            continue
        if ch == "#":
            j = query.find("\n", i)
            i = n if j == -1 else j
            continue
        start = i
        if ch in "\"'":
            i, text = _string(query, i)
            tok = Token(STRING, text, start, i)
        elif _after_time_option(toks):
            j = i
            while j < n and not query[j].isspace() and query[j] not in "|)":
                j += 1
            i = j
            tok = Token(TIME, query[start:j], start, j)
        elif ch == "/" and _regex_allowed(toks, cmd_word, in_cmd):
            i, text = _regex(query, i)
            tok = Token(REGEX, text, start, i)
        elif ch in _DIGITS or (ch == "." and i + 1 < n and query[i + 1] in _DIGITS):
            i, tok = _number(query, i)
        elif ch.isalpha() or ch in "_@$`":
            i, tok = _ident(query, i)
        else:
            for op in _OPERATORS:
                if query.startswith(op, i):
                    break
            else:
                raise QuerySyntaxError(
                    f"unexpected character {ch!r}", query, i, expected="a field, value or operator"
                )
            i += len(op)
            tok = Token(OP, op, start, i)
        if tok.kind == OP and tok.value == "|":
            cmd_word, in_cmd = None, 0
        else:
            if in_cmd == 0:
                cmd_word = tok.value.lower() if tok.kind == IDENT else None
            in_cmd += 1
        toks.append(tok)
    toks.append(Token(EOF, "", n, n))
    return toks


def _after_time_option(toks: list[Token]) -> bool:
    """After ``start=`` or ``end=`` (SOURCE's time range) comes one raw word."""
    return (
        len(toks) >= 2
        and toks[-1].kind == OP
        and toks[-1].value == "="
        and toks[-2].is_word("start", "end")
    )


def _regex_allowed(toks: list[Token], cmd_word: str | None, in_cmd: int) -> bool:
    if not toks:
        return True
    prev = toks[-1]
    if cmd_word == "parse" and in_cmd == 2:  # parse <field> /regex/
        return True
    if prev.kind == OP:
        return prev.value not in (")", "]")
    if prev.kind == IDENT and not prev.quoted and prev.value.lower() in _REGEX_AFTER_WORDS:
        return True
    return prev.kind not in _VALUE_KINDS


def _string(query: str, i: int) -> tuple[int, str]:
    quote = query[i]
    out: list[str] = []
    j = i + 1
    while j < len(query):
        c = query[j]
        if c == "\\" and j + 1 < len(query):
            nxt = query[j + 1]
            out.append(_ESCAPES.get(nxt, "\\" + nxt))
            j += 2
            continue
        if c == quote:
            return j + 1, "".join(out)
        out.append(c)
        j += 1
    raise QuerySyntaxError("unterminated string", query, i, expected=f"a closing {quote}")


def _regex(query: str, i: int) -> tuple[int, str]:
    out: list[str] = []
    j = i + 1
    while j < len(query):
        c = query[j]
        if c == "\\" and j + 1 < len(query):
            nxt = query[j + 1]
            out.append("/" if nxt == "/" else "\\" + nxt)
            j += 2
            continue
        if c == "/":
            _check_re2(query, i + 1, j)
            return j + 1, "".join(out)
        out.append(c)  # a newline is part of the pattern (AWS's pages wrap long regexes)
        j += 1
    raise QuerySyntaxError("unterminated regular expression", query, i, expected="a closing /")


# what Python's re reads but RE2 (DuckDB) and CloudWatch's engine (Hyperscan: "no
# lookaround, no backreferences", https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/CWL_QuerySyntax.html)
# do not
_NO_RE2 = (
    ("(?=", "lookahead (?=...)"),
    ("(?!", "negative lookahead (?!...)"),
    ("(?<=", "lookbehind (?<=...)"),
    ("(?<!", "negative lookbehind (?<!...)"),
    ("(?>", "atomic group (?>...)"),
    ("(?P=", "backreference (?P=name)"),
    ("(?(", "conditional (?(...)...)"),
    ("(?#", "comment (?#...)"),
)


def _check_re2(query: str, start: int, end: int) -> None:
    """Reject, with a caret, what a /regex/ between ``start`` and ``end`` cannot hold."""
    j, in_class = start, False
    while j < end:
        c = query[j]
        if c == "\\" and j + 1 < end:
            nxt = query[j + 1]
            if nxt in "123456789" or (nxt == "k" and j + 2 < end and query[j + 2] in "<{'"):
                raise QuerySyntaxError(
                    "backreferences are not supported in a regular expression",
                    query,
                    j,
                    expected="a regular expression without \\1 or \\k<name>",
                )
            j += 2
            continue
        if in_class:
            in_class = c != "]"
        elif c == "[":
            in_class = True
            if query.startswith("[^]", j) or query.startswith("[]", j):
                j += 2 if query[j + 1] == "]" else 3
                continue
        elif c == "(":
            for text, what in _NO_RE2:
                if query.startswith(text, j):
                    raise QuerySyntaxError(
                        f"{what} is not supported in a regular expression",
                        query,
                        j,
                        expected="a regular expression without lookaround or backreferences",
                    )
        j += 1


def _number(query: str, i: int) -> tuple[int, Token]:
    start, n = i, len(query)
    while i < n and query[i] in _DIGITS:
        i += 1
    if i < n and query[i] == "." and i + 1 < n and query[i + 1] in _DIGITS:
        i += 1
        while i < n and query[i] in _DIGITS:
            i += 1
    if i + 1 < n and query[i] in "eE" and (query[i + 1] in _DIGITS or query[i + 1] in "+-"):
        j = i + 1 + (query[i + 1] in "+-")
        if j < n and query[j] in _DIGITS:
            i = j
            while i < n and query[i] in _DIGITS:
                i += 1
    num_text = query[start:i]
    if i < n and query[i].isalpha():
        j = i
        while j < n and query[j].isalpha():
            j += 1
        unit = query[i:j]
        ms = unit_ms(unit)
        if ms is None or (j < n and (query[j] in _DIGITS or query[j] in "_@.")):
            raise QuerySyntaxError(
                f"unknown time unit {unit!r}",
                query,
                i,
                expected="ms, s, m, h, d, w, mo, q or y",
            )
        return j, Token(
            DURATION, query[start:j], start, j, parts=(num_text, unit), number=float(num_text)
        )
    return i, Token(NUMBER, num_text, start, i, number=float(num_text))


def _ident(query: str, i: int) -> tuple[int, Token]:
    start, n = i, len(query)
    parts: list[str] = []
    quoted = False
    while True:
        if i + 1 < n and query[i] == "@" and query[i + 1] == "`" and not parts:
            # a system field whose name has special characters: @`aws.tag.aws:stack-name`
            # (AWS "Fields that contain special characters") is the one field @aws.tag...
            j = query.find("`", i + 2)
            if j == -1:
                raise QuerySyntaxError("unterminated `name`", query, i + 1, expected="a closing `")
            parts.append("@" + query[i + 2 : j])
            quoted = True
            i = j + 1
        elif i < n and query[i] == "`":
            j = query.find("`", i + 1)
            if j == -1:
                raise QuerySyntaxError("unterminated `name`", query, i, expected="a closing `")
            parts.append(query[i + 1 : j])
            quoted = True
            i = j + 1
        else:
            j = i
            while j < n and (query[j].isalnum() or query[j] in "_@$"):
                j += 1
            if j == i:
                raise QuerySyntaxError("expected a name", query, i, expected="a field name")
            parts.append(query[i:j])
            i = j
        while i < n and query[i] == "[":  # list[index]: the item at that position
            k = i + 1
            while k < n and query[k] in _DIGITS:
                k += 1
            if k == i + 1 or k >= n or query[k] != "]":
                break
            parts.append(query[i + 1 : k])
            i = k + 1
        if i + 1 < n and query[i] == "." and (query[i + 1].isalnum() or query[i + 1] in "_@$`"):
            i += 1
            continue
        break
    return i, Token(IDENT, ".".join(parts), start, i, parts=tuple(parts), quoted=quoted)
