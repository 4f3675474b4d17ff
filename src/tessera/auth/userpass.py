"""The userpass auth method: users with passwords, CRUD, password and policy updates, login.

Passwords are kept only as scrypt hashes (N=2^15, r=8, p=1, per-user salt). A login for an
unknown user runs the same KDF against a decoy hash, and every wrong credential answers the same
``invalid username or password``, so neither the answer nor its timing tells whether a user
exists. The user's ``token_*`` fields go through tokenutil like every other auth method's.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import threading
from typing import Any

from ..framework import (
    Auth,
    CodedError,
    ErrorResponse,
    Field,
    FieldData,
    FieldType,
    InternalError,
    InvalidCredentials,
    Operation,
    Path,
    PermissionDenied,
    Request,
    Response,
    generic_name,
)
from ..storage.base import Storage
from .tokenutil import (
    AuthBackend,
    TokenParams,
    deprecated_token_fields,
    equivalent_policies,
    ip_in_cidrs,
    list_page,
    login_entity,
    page_fields,
    parse_policies,
    token_fields,
    upgrade_values,
)

SCRYPT_N, SCRYPT_R, SCRYPT_P, SCRYPT_LEN = 2**15, 8, 1, 32
_MAXMEM = 64 * 1024 * 1024
INVALID = "invalid username or password"
HELP = """
The "userpass" credential provider allows authentication using
a combination of a username and password. No additional factors
are supported.

The username/password combination is configured using the "users/"
endpoints by a user with root access. Authentication is then done
by supplying the two fields for "login".
"""


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, maxmem=_MAXMEM, dklen=SCRYPT_LEN)


def hash_password(password: str) -> dict[str, Any]:
    """A fresh salted scrypt hash, with its parameters so they can be raised later."""
    salt = os.urandom(16)
    digest = _scrypt(password, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
    return {
        "kdf": "scrypt",
        "n": SCRYPT_N,
        "r": SCRYPT_R,
        "p": SCRYPT_P,
        "salt": base64.b64encode(salt).decode(),
        "hash": base64.b64encode(digest).decode(),
    }


_DECOY = hash_password(base64.b64encode(os.urandom(18)).decode())


def verify_password(password: str, stored: dict[str, Any] | None) -> bool:
    """Constant-time check of ``password``; a None hash runs the decoy and fails."""
    target = stored if stored and stored.get("kdf") == "scrypt" else _DECOY
    digest = _scrypt(
        password, base64.b64decode(target["salt"]), int(target["n"]), int(target["r"]), int(target["p"])
    )
    ok = hmac.compare_digest(digest, base64.b64decode(target["hash"]))
    return ok and target is stored


class User(TokenParams):
    """One user as stored: the token parameters, the hash, and the deprecated aliases."""

    def __init__(self) -> None:
        super().__init__()
        self.password_hash: dict[str, Any] | None = None
        self.policies: list[str] = []
        self.ttl = 0
        self.max_ttl = 0
        self.bound_cidrs: list[str] = []

    def to_json(self) -> dict[str, Any]:
        doc = self.token_json()
        doc.update(
            password_hash=self.password_hash,
            policies=self.policies,
            ttl=self.ttl,
            max_ttl=self.max_ttl,
            bound_cidrs=self.bound_cidrs,
        )
        return doc

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> User:
        user = cls()
        user.load_token_json(doc)
        user.password_hash = doc.get("password_hash")
        user.policies = list(doc.get("policies") or [])
        user.ttl = int(doc.get("ttl") or 0)
        user.max_ttl = int(doc.get("max_ttl") or 0)
        user.bound_cidrs = list(doc.get("bound_cidrs") or [])
        # Users written with only the deprecated fields read back through the new ones.
        if not user.token_ttl and user.ttl:
            user.token_ttl = user.ttl
        if not user.token_max_ttl and user.max_ttl:
            user.token_max_ttl = user.max_ttl
        if not user.token_policies and user.policies:
            user.token_policies = list(user.policies)
        if not user.token_bound_cidrs and user.bound_cidrs:
            user.token_bound_cidrs = list(user.bound_cidrs)
        return user


def _storage(req: Request) -> Storage:
    assert req.storage is not None
    return req.storage


def validate_password_input(password: str, password_hash: str) -> None:
    if password and password_hash:
        raise ErrorResponse("only one of password or password_hash may be provided")
    if not password and not password_hash:
        raise ErrorResponse("must provide either password or password_hash")


class Userpass:
    def __init__(self, core: Any) -> None:
        self.core = core
        self.lock = threading.RLock()

    def user(self, storage: Storage, username: str) -> User | None:
        doc = storage.get_json("user/" + username.lower())
        return None if doc is None else User.from_json(doc)

    def save(self, storage: Storage, username: str, user: User) -> None:
        storage.put_json("user/" + username.lower(), user.to_json())

    @staticmethod
    def set_password(user: User, password: str, password_hash: str) -> None:
        validate_password_input(password, password_hash)
        if password_hash:
            # Pre-hashed (bcrypt) passwords would need a bcrypt implementation Tessera does not ship.
            raise ErrorResponse("password_hash is not supported by this server; provide password instead")
        user.password_hash = hash_password(password)

    # -- users --------------------------------------------------------------------------
    def exists(self, req: Request, data: FieldData) -> bool:
        return self.user(_storage(req), data.get("username")) is not None

    def list_users(self, req: Request, data: FieldData) -> Response:
        return Response(data={"keys": list_page(_storage(req).list("user/"), data)})

    def read(self, req: Request, data: FieldData) -> Response | None:
        user = self.user(_storage(req), data.get("username"))
        if user is None:
            return None
        out: dict[str, Any] = {}
        user.populate_token_data(out)
        if user.ttl > 0:
            out["ttl"] = user.ttl
        if user.max_ttl > 0:
            out["max_ttl"] = user.max_ttl
        if user.policies:
            out["policies"] = out["token_policies"]
        if user.bound_cidrs:
            out["bound_cidrs"] = list(user.bound_cidrs)
        return Response(data=out)

    def delete(self, req: Request, data: FieldData) -> None:
        _storage(req).delete("user/" + str(data.get("username")).lower())
        return None

    def write(self, req: Request, data: FieldData) -> None:
        password: str = data.get("password")
        password_hash: str = data.get("password_hash")
        if req.operation == Operation.CREATE:
            validate_password_input(password, password_hash)
        storage = _storage(req)
        username = str(data.get("username")).lower()
        with self.lock:
            user = self.user(storage, username) or User()
            user.parse_token_fields(data)
            if password or password_hash:
                self.set_password(user, password, password_hash)
            self._upgrade(data, user)
            self.save(storage, username, user)
        return None

    @staticmethod
    def _upgrade(data: FieldData, user: User) -> None:
        """tokenutil.UpgradeValue for policies, ttl, max_ttl and bound_cidrs."""
        upgrade_values(
            data,
            user,
            (
                ("policies", "token_policies"),
                ("ttl", "token_ttl"),
                ("max_ttl", "token_max_ttl"),
                ("bound_cidrs", "token_bound_cidrs"),
            ),
        )

    def update_password(self, req: Request, data: FieldData) -> None:
        storage = _storage(req)
        with self.lock:
            user = self.user(storage, data.get("username"))
            if user is None:
                raise InternalError("username does not exist")
            self.set_password(user, data.get("password"), data.get("password_hash"))
            self.save(storage, data.get("username"), user)
        return None

    def update_policies(self, req: Request, data: FieldData) -> None:
        storage = _storage(req)
        with self.lock:
            user = self.user(storage, data.get("username"))
            if user is None:
                raise InternalError("username does not exist")
            if not data.has("token_policies"):
                if data.has("policies"):
                    user.policies = parse_policies(data.get("policies"))
                    user.token_policies = list(user.policies)
            else:
                user.token_policies = parse_policies(data.get("token_policies"))
                user.policies = list(user.token_policies) if data.has("policies") else []
            self.save(storage, data.get("username"), user)
        return None

    # -- login and renewal --------------------------------------------------------------
    def login(self, req: Request, data: FieldData) -> Response:
        username = str(data.get("username")).lower()
        password: str = data.get("password")
        if not password:
            raise CodedError(500, "missing password")
        user = self.user(_storage(req), username)
        stored = user.password_hash if user is not None else None
        if not verify_password(password, stored) or user is None:
            # Same answer either way; only a known user's wrong password counts towards lockout.
            raise ErrorResponse(INVALID) if user is None else InvalidCredentials(INVALID)
        if user.token_bound_cidrs and not ip_in_cidrs(req.remote_addr, user.token_bound_cidrs):
            raise PermissionDenied()
        auth = Auth(metadata={"username": username}, display_name=username, alias_name=username, orphan=True)
        user.populate_token_auth(auth, req)
        auth.entity_id = login_entity(self.core, req, username, None)
        return Response(auth=auth)

    def renew(self, req: Request, auth: Auth) -> Auth | None:
        """pathLoginRenew: a deleted user's token is not renewed; changed policies refuse."""
        user = self.user(_storage(req), (auth.metadata or {}).get("username", ""))
        if user is None:
            return None
        if not equivalent_policies(user.token_policies, auth.token_policies):
            raise InternalError("failed to renew entry: policies have changed, not renewing")
        return user.renew_auth(auth)


def _paths(up: Userpass) -> list[Path]:
    user = "users/" + generic_name("username")
    name = {"username": Field(FieldType.STRING, "Username for this user.")}
    password = {
        "password": Field(FieldType.STRING, "Password for this user."),
        "password_hash": Field(FieldType.STRING, "Pre-hashed password in bcrypt format for this user."),
    }
    user_fields = {
        **name,
        **password,
        **deprecated_token_fields("policies", "ttl", "max_ttl", "bound_cidrs"),
        **token_fields(),
    }
    return [
        Path(
            "users/?$",
            fields=page_fields(),
            operations={Operation.LIST: up.list_users},
            synopsis="Manage users allowed to authenticate.",
        ),
        Path(
            user + "$",
            fields=user_fields,
            operations={
                Operation.CREATE: up.write,
                Operation.UPDATE: up.write,
                Operation.READ: up.read,
                Operation.DELETE: up.delete,
            },
            existence_check=up.exists,
            synopsis="Manage users allowed to authenticate.",
        ),
        Path(
            user + "/password$",
            fields={**name, **password},
            operations={Operation.UPDATE: up.update_password},
            synopsis="Reset user's password.",
        ),
        Path(
            user + "/policies$",
            fields={
                **name,
                "policies": user_fields["policies"],
                "token_policies": user_fields["token_policies"],
            },
            operations={Operation.UPDATE: up.update_policies},
            synopsis="Update the policies associated with the username.",
        ),
        Path(
            "login/" + generic_name("username") + "$",
            fields={**name, "password": Field(FieldType.STRING, "Password for this user.")},
            operations={Operation.UPDATE: up.login},
            synopsis="Log in with a username and password.",
            unauthenticated=True,
            special=("login/*",),
        ),
    ]


# Open though no path serves it (login/<username> is declared): a token-less login naming no
# user answers "unsupported path" rather than "permission denied", as it always has here.
UNDECLARED_UNAUTHENTICATED_PATHS = ["login"]


def factory(core: Any, entry: Any) -> AuthBackend:
    up = Userpass(core)
    return AuthBackend(
        paths=_paths(up),
        help=HELP,
        unauthenticated_paths=list(UNDECLARED_UNAUTHENTICATED_PATHS),
        backend_type="userpass",
        kind="credential",
        renew_hook=up.renew,
        invalidate=AuthBackend.keeps_nothing,
        login_alias=login_alias,
    )


def login_alias(req: Request) -> str | None:
    """The alias look-ahead: a login is for its username, lower-cased as users are stored."""
    if not req.path.startswith("login/"):
        return None
    return req.path[len("login/") :].lower() or None
