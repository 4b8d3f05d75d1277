"""Collections of documents handed to the engine as one JSON text per document (issue 21).

Pulumi 3.259's CLI writes every property it marshals into its always-on debug log, the
whole value again at each level of nesting, and the engine and both SDKs walk every node
of a document several times per command (Check, Diff and RegisterResource each carry two
or three copies). A saved-object bundle of 88 objects nested 4 to 8 deep was most of what
a no-op `pulumi preview` cost above the engine's floor (README "No-op commands: where the
time goes"). As text, each document is one value to all of them.

What the engine shows stays field by field, measured on the real CLI (pulumi 3.259.0):
when a provider's detailed diff names a property holding JSON text, `pulumi preview --diff`
prints it as a structural `(json)` diff of the two texts, down to each changed field with
its old and new value. A detailed-diff path pointing *inside* a text prints empty braces,
and naming both the text and paths inside it prints one or the other depending on Go's
map order. So a collection keeps its map (`objects`: key -> document), each document one
JSON text: the detailed diff names each changed document (`objects["explore/<id>"]`, also
in `preview --json`), and `--diff` shows that document's changed fields and nothing of the
unchanged ones.

A resource that is one document (an OpenSearch template, pipeline or ISM policy: `body`)
carries it as one JSON text; with no detailed diff of its own, the engine shows the
property as a `(json)` diff the same way.

`TextMembers` is the mechanism for a dynamic provider: a kind lists its collection
properties in TEXT_MEMBERS and its single-document properties in TEXT_PROPERTIES, and
every protocol method sees them decoded (documents as structures, whichever shape the
state holds: stacks written before hold nested maps) and hands back what it returns
encoded (checked inputs, outputs, inputs read back). The provider's own code compares,
checks and writes structures as before.
"""

from __future__ import annotations

import functools
import json
from typing import Any, Iterable

from pulumi.dynamic import CheckResult, CreateResult, ReadResult, UpdateResult

from components.providers.kit import contains_unknown, is_unknown, plain

PROTOCOL = ("check", "diff", "create", "read", "update", "delete")


def encode(doc: Any) -> str:
    """A document as compact JSON text (key order kept: the program builds it deterministically)."""
    return json.dumps(plain(doc), separators=(",", ":"), ensure_ascii=False)


def decode(value: Any) -> Any:
    """A document carried as JSON text as a structure; a structure (an older state) as it is."""
    if isinstance(value, str) and value[:1] in ("{", "["):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def encode_members(collection: Any) -> Any:
    """key -> document as key -> JSON text (a value not known yet stays as it is)."""
    if not isinstance(collection, dict):
        return collection
    return {k: v if is_unknown(v) or isinstance(v, str) else encode(v) for k, v in collection.items()}


def decode_members(collection: Any) -> Any:
    if not isinstance(collection, dict):
        return collection
    return {k: decode(v) for k, v in collection.items()}


def encode_document(doc: Any) -> Any:
    """A whole property's document as JSON text (text and values not known yet stay as they are)."""
    return doc if isinstance(doc, str) or contains_unknown(doc) else encode(doc)


def _converted(props: Any, members: Iterable[str], whole: Iterable[str], member, document) -> Any:
    """A property bag with `member` applied to its collections and `document` to its single documents."""
    if not isinstance(props, dict):
        return props
    out = dict(props)
    for keys, convert in ((members, member), (whole, document)):
        for key in keys:
            if key in out:
                out[key] = convert(out[key])
    return out


def decoded(props: Any, members: Iterable[str] = (), whole: Iterable[str] = ()) -> Any:
    """A property bag with its collections (members) and single documents (whole) as structures."""
    return _converted(props, members, whole, decode_members, decode)


def encoded(props: Any, members: Iterable[str] = (), whole: Iterable[str] = ()) -> Any:
    """A property bag with its collections (members) and single documents (whole) as JSON text."""
    return _converted(props, members, whole, encode_members, encode_document)


def _wrap(method, name: str):
    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        keys = (self.TEXT_MEMBERS, self.TEXT_PROPERTIES)
        result = method(self, *(decoded(a, *keys) for a in args), **{k: decoded(v, *keys) for k, v in kwargs.items()})
        if name == "check" and isinstance(result, CheckResult):
            # The program's own text goes back to the engine, not a re-encoding of it.
            news = args[-1] if args else kwargs.get("news")
            raw = {k: news[k] for k in (*keys[0], *keys[1]) if isinstance(news, dict) and k in news}
            result.inputs = {**encoded(result.inputs, *keys), **raw} if isinstance(result.inputs, dict) else result.inputs
        elif isinstance(result, (CreateResult, UpdateResult)):
            result.outs = encoded(result.outs, *keys)
        elif isinstance(result, ReadResult):
            result.outs, result.inputs = encoded(result.outs, *keys), encoded(result.inputs, *keys)
        return result

    return wrapper


class TextMembers:
    """Mixin for a dynamic provider: the collections named in TEXT_MEMBERS travel as one
    JSON text per document, the properties named in TEXT_PROPERTIES as one JSON text each
    (see the module docstring); its methods see structures."""

    TEXT_MEMBERS: tuple = ()
    TEXT_PROPERTIES: tuple = ()

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if not (cls.TEXT_MEMBERS or cls.TEXT_PROPERTIES):
            return
        for name in PROTOCOL:
            method = getattr(cls, name, None)  # inherited ones too (a kind's diff is often its base's)
            if method is not None and not getattr(method, "_text_members", False):
                wrapped = _wrap(method, name)
                wrapped._text_members = True
                setattr(cls, name, wrapped)
