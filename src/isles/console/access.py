"""Who may use the console, and how a browser gets in.

Only the operator: a token signed with the operator's key (``isles token``). The
platform has no administrators of its own beyond it, and a company's administrator
(a user token, however many roles it names) is refused with a 403 page that shows
no data.

A browser signs in at ``/console/login`` with the token. The console keeps a session
in memory (the token itself is never stored in the browser) and hands the browser a
random session id in an ``HttpOnly``, ``SameSite=Strict`` cookie (``Secure`` when the
request came over https), limited to ``/console`` and to the token's lifetime (at
most :data:`SESSION_HOURS`). Each session has its own CSRF token, which every POST
form carries; a POST without it, or from another origin, is refused. A script may
send the token as ``Authorization: Bearer`` instead (no cookie, so no CSRF check).

Sign-ins, sign-outs, refusals and every action are recorded in the security log.
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass
from urllib.parse import urlsplit

from starlette.requests import Request

from isles.security.events import SecurityLog
from isles.security.tokens import InvalidToken, Principal, TokenVerifier

COOKIE = "isles_console"
SESSION_HOURS = 8.0
MAX_SESSIONS = 1000


@dataclass(frozen=True)
class Session:
    id: str
    actor: str
    csrf: str
    expires_at: float
    cookie: bool  # signed in with the cookie (its POSTs need the CSRF token)


class Refused(Exception):
    """A request the console does not serve: ``status`` 401 (sign in) or 403."""

    def __init__(self, status: int, reason: str, detail: str, *, who: Principal | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.reason = reason
        self.detail = detail
        self.who = who  # a valid token's holder (refused as not the operator)


def client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


def is_https(request: Request) -> bool:
    forwarded = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
    return request.url.scheme == "https" or forwarded == "https"


class Gatekeeper:
    """The console's sessions, and the checks each request passes."""

    def __init__(self, verifier: TokenVerifier, security: SecurityLog) -> None:
        self.verifier = verifier
        self.security = security
        self._sessions: OrderedDict[str, Session] = OrderedDict()

    # -- signing in and out -------------------------------------------------------

    def operator_of(self, token: str) -> Principal:
        """The operator the token is, or :class:`Refused` (401 not a valid token,
        403 a valid token of someone else: a company's administrator, a service)."""
        try:
            principal = self.verifier.verify(token.strip())
        except InvalidToken as exc:
            raise Refused(401, exc.code, exc.reason) from None
        if not principal.is_operator:
            raise Refused(
                403,
                "not_operator",
                f"the console is the operator's: a {principal.kind} token is not enough, whatever its roles",
                who=principal,
            )
        return principal

    def sign_in(self, request: Request, token: str) -> Session:
        try:
            principal = self.operator_of(token)
        except Refused as exc:
            self.refused(request, exc)
            raise
        now = time.time()
        expires = min(principal.expires_at, now + SESSION_HOURS * 3600)
        session = Session(secrets.token_urlsafe(32), principal.subject, secrets.token_urlsafe(32), expires, True)
        self._sessions[session.id] = session
        while len(self._sessions) > MAX_SESSIONS:
            self._sessions.popitem(last=False)
        self.security.record("console.signed_in", actor=principal.subject, ip=client_ip(request))
        return session

    def sign_out(self, request: Request, session: Session) -> None:
        self._sessions.pop(session.id, None)
        self.security.record("console.signed_out", actor=session.actor, ip=client_ip(request))

    # -- each request -------------------------------------------------------------

    def session_of(self, request: Request) -> Session:
        """The caller's session (cookie) or bearer token, else :class:`Refused`
        (recorded in the security log)."""
        try:
            return self._session_of(request)
        except Refused as exc:
            self.refused(request, exc)
            raise

    def _session_of(self, request: Request) -> Session:
        header = request.headers.get("authorization")
        if header:
            scheme, _, token = header.strip().partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise Refused(401, "invalid_request", "the Authorization header must be 'Bearer <token>'")
            principal = self.operator_of(token)
            return Session("", principal.subject, "", principal.expires_at, False)
        sid = request.cookies.get(COOKIE)
        if not sid:
            raise Refused(401, "missing_token", "sign in with the operator's token")
        session = self._sessions.get(sid)
        if session is None:
            raise Refused(401, "unknown_session", "the session is unknown (signed out, or the gateway restarted)")
        if session.expires_at <= time.time():
            self._sessions.pop(sid, None)
            raise Refused(401, "expired_session", "the session expired: sign in again")
        return session

    def check_post(self, request: Request, session: Session, csrf: str | None) -> None:
        """A POST from a page of this console: same origin, and the session's CSRF
        token (a bearer-token caller has no cookie to be tricked into sending)."""
        try:
            same_origin(request)
            if session.cookie and not (csrf and hmac.compare_digest(csrf, session.csrf)):
                raise Refused(403, "csrf", "the form's CSRF token is missing or wrong: reload the page and try again")
        except Refused as exc:
            self.refused(request, exc, actor=session.actor)
            raise

    def refused(self, request: Request, exc: Refused, *, actor: str | None = None) -> None:
        self.security.record(
            "console.refused",
            actor=actor or (exc.who.subject if exc.who else None),
            company=exc.who.tenant if exc.who else None,
            ip=client_ip(request),
            reason=exc.reason,
            status=exc.status,
            path=request.url.path,
            method=request.method,
        )

    def action(self, request: Request, session: Session, action: str, **detail: object) -> None:
        self.security.record("console.action", actor=session.actor, ip=client_ip(request), action=action, **detail)


def same_origin(request: Request) -> None:
    """Refuse a POST whose ``Origin`` (or, without one, ``Referer``) is another site."""
    origin = request.headers.get("origin") or request.headers.get("referer")
    if not origin or origin == "null":
        return  # SameSite=Strict keeps the cookie off cross-site requests anyway
    parts = urlsplit(origin)
    if parts.netloc != request.headers.get("host", request.url.netloc):
        raise Refused(403, "cross_origin", f"a form posted from another site ({parts.scheme}://{parts.netloc})")
