"""Field encryption: sensitive columns are stored as AES-256-GCM ciphertext (seed 001,
"Application Level: Sensitive data encryption before storage").

A column declared ``mapped_column(isles.Encrypted(Decimal, "employee", "employees.salary"))``
holds ``e1:<key id>:<base64url(nonce | ciphertext | tag)>`` in a ``TEXT`` column; the
ORM gives and takes the Python value (``Decimal``, ``date``, ``str``). The column's
label (``table.column``) is the cipher's associated data, so a value copied into
another column does not decrypt. Reads of a value written before the column was
encrypted (no ``e1:`` prefix) return it as it is; ``isles keys rotate-data`` encrypts
those too.

Keys are per service, in the key folder: ``<keys>/data/<service>/<key id>.key``
(32 random bytes, base64, mode 0600). The newest id is the current key: values are
written with it; any key of the folder reads. A process that meets a key id it does
not hold reads the folder again (``rotate-data`` made a new key while it ran), and it
looks for a newer current key at most every :data:`REFRESH_SECONDS`.

An encrypted column cannot be compared, sorted or searched in SQL (the ciphertext
says nothing): such an expression raises :class:`EncryptedColumnError` where the
query is built, and ``ListSpec`` refuses it in ``sort`` and ``search``.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import threading
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import Column, MetaData, Table, Text
from sqlalchemy.types import TypeDecorator

PREFIX = "e1:"
REFRESH_SECONDS = 30.0
_ID_CHARS = set("0123456789abcdefT-")


class EncryptedColumnError(Exception):
    """An encrypted column used where its plaintext would be needed in SQL."""


class DataKeyError(Exception):
    """A data key that is missing or unreadable."""


def data_keys_dir(keys_dir: Path, service: str) -> Path:
    return keys_dir / "data" / service


def new_key_id() -> str:
    """Sortable by creation: the newest is the current key."""
    return f"{datetime.now(UTC).strftime('%Y%m%dT%H%M%S%f')}-{secrets.token_hex(2)}"


def generate_data_key(folder: Path) -> str:
    """Write a new key (it becomes the current one); its id."""
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    key_id = new_key_id()
    fd = os.open(folder / f"{key_id}.key", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(base64.b64encode(secrets.token_bytes(32)).decode() + "\n")
    return key_id


class DataKeyRing:
    """One service's data keys, read from its folders (every folder a runtime of the
    service in this process loaded)."""

    def __init__(self, service: str) -> None:
        self.service = service
        self._folders: list[Path] = []
        self._keys: dict[str, AESGCM] = {}
        self.current: str | None = None
        self._checked = 0.0
        self._lock = threading.Lock()

    def load(self, folder: Path) -> None:
        """Add ``folder``'s keys; its newest becomes the current key."""
        with self._lock:
            if folder not in self._folders:
                self._folders.append(folder)
            self._read(folder, adopt_current=True)

    def _read(self, folder: Path, *, adopt_current: bool) -> None:
        if not folder.is_dir():
            return
        ids = sorted(p.stem for p in folder.glob("*.key") if set(p.stem) <= _ID_CHARS)
        for key_id in ids:
            if key_id not in self._keys:
                raw = base64.b64decode((folder / f"{key_id}.key").read_text().strip(), validate=True)
                if len(raw) != 32:
                    raise DataKeyError(f"{folder / key_id}.key: not a 256-bit key")
                self._keys[key_id] = AESGCM(raw)
        if ids and (adopt_current or self.current is None or ids[-1] > self.current):
            self.current = ids[-1]
        self._checked = time.monotonic()

    def refresh(self) -> None:
        with self._lock:
            for folder in self._folders:
                self._read(folder, adopt_current=False)

    def cipher(self, key_id: str) -> AESGCM:
        found = self._keys.get(key_id)
        if found is None:
            self.refresh()  # a key made after this process read the folder
            found = self._keys.get(key_id)
            if found is None:
                raise DataKeyError(f"{self.service}: no data key {key_id} in {self._folders or 'any folder'}")
        return found

    def current_cipher(self) -> tuple[str, AESGCM]:
        if time.monotonic() - self._checked > REFRESH_SECONDS:
            self.refresh()
        if self.current is None:
            raise DataKeyError(
                f"{self.service}: no data key to encrypt with (isles keys generate makes one in <keys>/data/)"
            )
        return self.current, self._keys[self.current]

    @property
    def key_ids(self) -> list[str]:
        return sorted(self._keys)


#: Every service's key ring in this process (a column type knows only its service).
RINGS: dict[str, DataKeyRing] = {}


def ring(service: str) -> DataKeyRing:
    if service not in RINGS:
        RINGS[service] = DataKeyRing(service)
    return RINGS[service]


def _encode(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, Decimal | int):
        return str(value)
    if isinstance(value, date):
        return value.isoformat()
    return json.dumps(value, sort_keys=True)


_DECODERS: dict[type, Callable[[str], Any]] = {
    str: str,
    Decimal: Decimal,
    int: int,
    date: date.fromisoformat,
    dict: json.loads,
    list: json.loads,
}


def encrypt(service: str, label: str, value: Any) -> str:
    key_id, cipher = ring(service).current_cipher()
    nonce = secrets.token_bytes(12)
    sealed = cipher.encrypt(nonce, _encode(value).encode(), label.encode())
    return f"{PREFIX}{key_id}:{base64.urlsafe_b64encode(nonce + sealed).decode()}"


def decrypt(service: str, label: str, stored: str) -> str:
    if not stored.startswith(PREFIX):
        return stored  # written before the column was encrypted
    key_id, _, body = stored[len(PREFIX) :].partition(":")
    raw = base64.urlsafe_b64decode(body)
    return ring(service).cipher(key_id).decrypt(raw[:12], raw[12:], label.encode()).decode()


def key_of(stored: str | None) -> str | None:
    """The key id a stored value was encrypted with (None: plain or null)."""
    if stored is None or not stored.startswith(PREFIX):
        return None
    return stored[len(PREFIX) :].partition(":")[0]


class Encrypted(TypeDecorator[Any]):
    """A column whose values are encrypted before they are stored (see the module)."""

    impl = Text
    cache_ok = True

    def __init__(self, python_type: type, service: str, label: str) -> None:
        super().__init__()
        if python_type not in _DECODERS:
            raise TypeError(f"Encrypted({python_type.__name__}): supported are {sorted(t.__name__ for t in _DECODERS)}")
        self.python_type_ = python_type
        self.service = service
        self.label = label

    @property
    def python_type(self) -> type:
        return self.python_type_

    def process_bind_param(self, value: Any, dialect: Any) -> str | None:
        if value is None:
            return None
        return encrypt(self.service, self.label, value)

    def process_result_value(self, value: Any, dialect: Any) -> Any:
        if value is None:
            return None
        return _DECODERS[self.python_type_](decrypt(self.service, self.label, value))

    class comparator_factory(TypeDecorator.Comparator[Any]):
        """Only ``IS NULL`` / ``IS NOT NULL``: any other comparison needs the plaintext."""

        def operate(self, op: Any, *other: Any, **kwargs: Any) -> Any:
            from sqlalchemy.sql import operators

            if op in (operators.is_, operators.is_not) and all(o is None for o in other):
                return super().operate(op, *other, **kwargs)
            name = getattr(self.expr, "key", "an encrypted column")
            raise EncryptedColumnError(f"{name} is encrypted: it cannot be compared, sorted or searched in SQL")

        def reverse_operate(self, op: Any, other: Any, **kwargs: Any) -> Any:
            name = getattr(self.expr, "key", "an encrypted column")
            raise EncryptedColumnError(f"{name} is encrypted: it cannot be compared, sorted or searched in SQL")


def is_encrypted(column: Any) -> bool:
    return isinstance(getattr(column, "type", None), Encrypted)


def encrypted_columns(metadata: MetaData) -> list[tuple[Table, Column[Any]]]:
    """The encrypted columns of a service's tables."""
    return [(t, c) for t in metadata.sorted_tables for c in t.columns if isinstance(c.type, Encrypted)]
