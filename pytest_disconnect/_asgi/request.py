"""The request the synthetic client sends, and the ASGI scope a server would build for it."""

from __future__ import annotations

import json as jsonlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import quote, unquote

from .._types import Scope
from .servers import ServerProfile
from .streamed_body import StreamedBody

HeadersArg = Mapping[str, str] | Sequence[tuple[str | bytes, str | bytes]] | None
BodyArg = bytes | str | Sequence[bytes]


@dataclass(frozen=True)
class Request:
    method: str
    #: Percent-decoded, as servers put it in scope["path"]; raw_path keeps it encoded.
    path: str
    raw_path: str
    query_string: bytes
    headers: tuple[tuple[bytes, bytes], ...]
    #: Body chunks, one ``http.request`` message each; never empty, unless ``stream`` has the body.
    chunks: tuple[bytes, ...]
    scheme: str = "http"
    server: tuple[str, int | None] = ("testserver", 80)
    root_path: str = ""
    client: tuple[str, int] = ("127.0.0.1", 50000)
    #: The app's lifespan state: each scope gets a shallow copy, as servers give it.
    state: Mapping[str, object] | None = None
    #: scope["extensions"], when the client offers some (TestClient's http.response.debug).
    extensions: Mapping[str, Mapping[str, object]] | None = None
    #: A body the client streams, read as the app asks (DisconnectTransport's streamed requests).
    stream: StreamedBody | None = None

    @classmethod
    def build(
        cls, method: str, path: str, *, headers: HeadersArg = None, body: BodyArg = b"",
        json: object = None,
    ) -> Request:
        if not isinstance(method, str) or not method.isalpha():
            raise ValueError(f"method must be an HTTP method such as 'GET', not {method!r}")
        if not isinstance(path, str) or not path.startswith("/"):
            raise ValueError(f"path must start with '/', as in '/report?x=1', not {path!r}")
        if any(char.isspace() or ord(char) < 0x20 or ord(char) == 0x7f for char in path):
            # No client sends these in a request line; a server would answer 400.
            raise ValueError(f"path must not contain spaces or control characters, as {path!r} does: "
                             "percent-encode them ('%20' for a space)")
        raw_path, _, query = path.partition("?")  # not urlsplit: '//api' is a path, not a host
        pairs = _header_pairs(headers)
        names = {name for name, _ in pairs}
        if json is not None:
            if body:
                raise ValueError("pass either body= or json=, not both")
            body = jsonlib.dumps(json).encode()
            if b"content-type" not in names:
                pairs.append((b"content-type", b"application/json"))
        chunks = _chunks(body)
        if b"host" not in names:
            pairs.insert(0, (b"host", b"testserver"))
        total = sum(len(chunk) for chunk in chunks)
        if total and b"content-length" not in names and b"transfer-encoding" not in names:
            pairs.append((b"content-length", str(total).encode()))
        return cls(method.upper(), unquote(raw_path), quote(raw_path, safe="/%:@!$&'()*+,;=-._~"),
                   query.encode("latin-1"), tuple(pairs), chunks)

    @property
    def target(self) -> str:
        """'GET /report?x=1', as reports name the request."""
        query = f"?{self.query_string.decode('latin-1')}" if self.query_string else ""
        return f"{self.method} {self.raw_path}{query}"

    def scope(self, profile: ServerProfile) -> Scope:
        return {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": profile.spec_version},
            "http_version": "1.1",
            "method": self.method,
            "scheme": self.scheme,
            "path": self.path,
            "raw_path": self.raw_path.encode("ascii"),
            "query_string": self.query_string,
            "root_path": self.root_path,
            "headers": list(self.headers),
            "client": self.client,
            "server": self.server,
            "state": {} if self.state is None else dict(self.state),
            **({} if self.extensions is None else
               {"extensions": {name: dict(value) for name, value in self.extensions.items()}}),
        }


def _header_pairs(headers: HeadersArg) -> list[tuple[bytes, bytes]]:
    if headers is None:
        return []
    if isinstance(headers, (str, bytes)) or not isinstance(headers, (Mapping, Sequence)):
        raise TypeError(f"headers= takes a mapping or a list of (name, value) pairs, "
                        f"not {type(headers).__name__} {headers!r}")
    items = headers.items() if isinstance(headers, Mapping) else headers
    pairs = []
    for item in items:
        if isinstance(item, (str, bytes)) or not isinstance(item, (tuple, list)) or len(item) != 2:
            raise TypeError(f"headers= takes (name, value) pairs; {item!r} is not one")
        name, value = item
        if not all(isinstance(part, (str, bytes)) for part in (name, value)):
            raise TypeError(f"headers= names and values are str or bytes, not {item!r}")
        raw_name = name if isinstance(name, bytes) else name.encode("latin-1")
        raw_value = value if isinstance(value, bytes) else value.encode("latin-1")
        pairs.append((raw_name.lower(), raw_value))
    return pairs


def _chunks(body: BodyArg) -> tuple[bytes, ...]:
    if isinstance(body, str):
        body = body.encode()
    if isinstance(body, (bytes, bytearray, memoryview)):
        return (bytes(body),)
    if not isinstance(body, (list, tuple)):
        raise TypeError(f"body= takes bytes, str (sent as UTF-8) or a list of bytes chunks, "
                        f"not {type(body).__name__} {body!r}")
    chunks = tuple(body)
    for chunk in chunks:
        if not isinstance(chunk, (bytes, bytearray, memoryview)):
            raise TypeError(f"body= chunks must be bytes, not {type(chunk).__name__} {chunk!r}")
    return tuple(bytes(chunk) for chunk in chunks) or (b"",)
