"""A student's code as the similarity report compares it: one character per token, with the names
the student chose, the numbers and the strings made alike, and comments, docstrings and layout left out.

`tokens("loss = tf.reduce_mean(tf.square(err))  # MSE")` and the same line with other names,
another constant or another comment give the same text, so renaming does not hide a copy. Names
the student did not choose (`tf`, `reduce_mean`, `range`, keyword arguments of library calls)
stay as they are: in this course the API an answer calls is most of what it says, and making it
alike too would make every honest pair of short answers look the same.

Which names the student chose is read from the code itself (`ast`): everything it binds
(assignment and loop targets, parameters, functions, classes, `import ... as`, `except ... as`,
`with ... as`) and every attribute it assigns (`self.hidden = ...`). Code that does not parse
falls back to treating every name that does not follow a dot as chosen.

Each token becomes one character (the kinds below, or a private-use character fixed by the
token's text), so the detector's k-grams count tokens, and `Tokens.spans` maps every character
back to the token's place in the original code, for the report's side-by-side highlighting.
"""

import ast
import builtins
import io
import keyword
import tokenize
import zlib
from dataclasses import dataclass

from pygments.lexers import PythonLexer
from pygments.token import Comment, Name, Number, String

NAME, NUMBER, STRING = "V", "N", "S"  # what chosen names, number and string literals become
_PRIVATE_USE = 0xF0000  # Supplementary Private Use Area-A: 65,534 characters no source holds
_PRIVATE_USE_SIZE = 65534
_LAYOUT = frozenset(
    {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.ENDMARKER}
)
_KINDS = {tokenize.NAME: "name", tokenize.NUMBER: "number", tokenize.STRING: "string"}
_KEEP = frozenset(dir(builtins)) | frozenset(keyword.kwlist) | frozenset(keyword.softkwlist)


@dataclass(frozen=True)
class Tokens:
    """`text`: one character per token; `spans[i]`: (start, end) of token i in `code`."""

    code: str
    text: str
    spans: tuple[tuple[int, int], ...]

    def region(self, start: int, end: int) -> tuple[int, int]:
        """The characters of `code` that tokens start..end (exclusive) came from."""
        return self.spans[start][0], self.spans[end - 1][1]


def symbol(text: str) -> str:
    """The one character a kept token (keyword, operator, library name) becomes, the same in every run."""
    if len(text) == 1 and text.isascii() and not text.isalnum():
        return text  # operators and brackets stay readable
    return chr(_PRIVATE_USE + zlib.crc32(text.encode("utf-8")) % _PRIVATE_USE_SIZE)


def line_starts(code: str) -> list[int]:
    """Where each line of `code` starts (and, last, its length)."""
    starts = [0]
    for line in code.splitlines(keepends=True):
        starts.append(starts[-1] + len(line))
    return starts


def docstrings(tree: ast.AST, code: str) -> set[int]:
    """Where in `code` the docstrings of the module, its functions and classes start."""
    lines = code.splitlines(keepends=True)
    starts = line_starts(code)
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                if isinstance(first.value.value, str):
                    encoded = lines[first.lineno - 1].encode("utf-8")  # col_offset counts bytes
                    column = len(encoded[: first.col_offset].decode("utf-8", errors="replace"))
                    found.add(starts[first.lineno - 1] + column)
    return found


def chosen_names(tree: ast.AST) -> tuple[set[str], set[str]]:
    """The names `tree` binds, and the attributes it assigns."""
    names: set[str] = set()
    attributes: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            names.add(node.id)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            attributes.add(node.attr)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.alias) and node.asname:
            names.add(node.asname)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            names.add(node.name)
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            names.update(node.names)
        elif isinstance(node, (ast.MatchAs, ast.MatchStar)) and node.name:
            names.add(node.name)
    return names - {"self", "cls"}, attributes


def lexed(code: str) -> list[tuple[int, int, str]]:
    """(start, end, kind) of every token of `code` that says something: kind is "name", "number",
    "string" or "other"; comments and layout left out. Python's tokenizer where it can read the
    code, Pygments' (which reads anything) where it cannot."""
    starts = line_starts(code)
    found: list[tuple[int, int, str]] = []
    try:
        for tok in tokenize.generate_tokens(io.StringIO(code).readline):
            if tok.type in _LAYOUT:
                continue
            kind = _KINDS.get(tok.type, "other")
            (row, col), (end_row, end_col) = tok.start, tok.end
            found.append((starts[row - 1] + col, starts[end_row - 1] + end_col, kind))
        return found
    except (tokenize.TokenError, SyntaxError):
        pass
    found = []
    for start, kind, value in PythonLexer().get_tokens_unprocessed(code):
        if kind in Comment or not value.strip():
            continue
        end = start + len(value)
        if kind in String:
            if found and found[-1][2] == "string" and found[-1][1] == start:  # one string, in pieces
                found[-1] = (found[-1][0], end, "string")
                continue
            found.append((start, end, "string"))
        else:
            found.append((start, end, "number" if kind in Number else "name" if kind in Name else "other"))
    return found


def tokens(code: str) -> Tokens:
    """`code` as the comparison sees it (see the module's docstring)."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError):  # code too deep to parse: no names known
        tree = None
    chosen = chosen_names(tree) if tree is not None else None
    skip = docstrings(tree, code) if tree is not None else set()
    text: list[str] = []
    spans: list[tuple[int, int]] = []
    previous = ""  # the last token's text, to tell `x.name` from `name`
    for start, end, kind in lexed(code):
        value = code[start:end]
        if kind == "string":
            if start in skip:  # docstrings say nothing here
                continue
            char = STRING
        elif kind == "number":
            char = NUMBER
        elif kind == "name" and not keyword.iskeyword(value):
            if chosen is None:
                is_chosen = previous != "." and value not in _KEEP
            else:
                is_chosen = value in chosen[1] if previous == "." else value in chosen[0]
            char = NAME if is_chosen else symbol(value)
        else:
            char = symbol(value)
        text.append(char)
        spans.append((start, end))
        previous = value
    return Tokens(code=code, text="".join(text), spans=tuple(spans))
