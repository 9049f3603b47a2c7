"""HTTP plumbing shared by the API: requests, errors, auth, pagination.

Gitea's rules reproduced here (see reference/README.md section 3):
- tokens as `Authorization: token|Bearer`, `?token=`/`?access_token=`, or
  as the password of Basic auth; passwords only through Basic auth;
- `Sudo` / `?sudo=` lets a site admin act as another user;
- scope level from the method (GET read, others write) per category;
- users who must change their password get 403 on every API call;
- `page`/`limit` with limit defaulting to 30 and capped at 50, Link built
  from ROOT_URL in the order next, last, first, prev, X-Total-Count.
"""

import base64
import binascii
import json
import urllib.parse

from . import gitjson

DEFAULT_PAGING_NUM = 30
MAX_RESPONSE_ITEMS = 50


class ApiError(Exception):
    """An answer other than success: Gitea's {"message","url"} body."""

    def __init__(self, status, message, errors=None, body=None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = errors
        self.body = body


def not_found(what=""):
    return ApiError(404, "The target couldn't be found.", errors=[what] if what else [])


class Request:
    def __init__(self, state, method, raw_path, headers, body):
        self.state = state
        self.method = method
        self.raw_path = raw_path
        parsed = urllib.parse.urlsplit(raw_path)
        self.path = urllib.parse.unquote(parsed.path)
        self.query_string = parsed.query
        self.query = urllib.parse.parse_qs(parsed.query, keep_blank_values=True)
        self.headers = headers
        self.body = body
        self.params = {}
        self.doer = None            # the acting user (after Sudo)
        self.signed_in = None       # who authenticated
        self.token = None           # the Token used, if any
        self.auth_kind = None       # "token", "basic" or None
        self.status = 200
        self.out_headers = []

    def arg(self, name, default=None):
        v = self.query.get(name)
        return v[0] if v else default

    def args(self, name):
        return self.query.get(name, [])

    def int_arg(self, name, default=0):
        try:
            return int(self.arg(name, default))
        except (TypeError, ValueError):
            return default

    def json(self):
        """The JSON body; Gitea answers 422 to a body it cannot bind."""
        if not self.body:
            return {}
        try:
            obj = json.loads(self.body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ApiError(422, f"invalid JSON body: {exc}")
        if not isinstance(obj, dict):
            raise ApiError(422, "the body must be a JSON object")
        return obj

    def swagger_url(self):
        return self.state.root_url + "api/swagger"


def error_body(req, err):
    if err.body is not None:
        return err.body
    obj = {"message": err.message, "url": req.swagger_url()}
    if err.status == 404:
        obj = {"errors": err.errors or [], "message": err.message,
               "url": req.swagger_url()}
    return obj


# -- authentication --------------------------------------------------------

def _basic(header):
    try:
        raw = base64.b64decode(header.split(None, 1)[1], validate=True).decode()
    except (IndexError, binascii.Error, UnicodeDecodeError):
        return None, None
    login, _, secret = raw.partition(":")
    return login, secret


def authenticate(req):
    """Sets req.signed_in, req.doer, req.token and req.auth_kind."""
    st = req.state
    auth = req.headers.get("Authorization", "")
    secret = None
    scheme = auth.split(None, 1)[0].lower() if auth else ""
    if scheme in ("token", "bearer"):
        secret = auth.split(None, 1)[1].strip() if " " in auth else ""
    elif scheme == "basic":
        login, password = _basic(auth)
        user = st.user_by_login(login) if login else None
        if user is None or user.is_org:
            raise ApiError(401, "user does not exist")
        tok = st.token_by_secret(password)
        if tok is not None and tok.user_id == user.id:
            # A token as the Basic password counts as basic auth too.
            req.token = tok
        elif not user.check_password(password):
            raise ApiError(401, "invalid username, password or token")
        req.signed_in = user
        req.auth_kind = "basic"
    elif req.arg("token") or req.arg("access_token"):
        secret = req.arg("token") or req.arg("access_token")
    if secret is not None:
        tok = st.token_by_secret(secret)
        if tok is None:
            raise ApiError(401, "invalid username, password or token")
        req.token = tok
        req.signed_in = st.users[tok.user_id]
        req.auth_kind = "token"
    req.doer = req.signed_in
    sudo = req.headers.get("Sudo") or req.arg("sudo")
    if sudo and req.signed_in is not None:
        if not req.signed_in.is_admin:
            raise ApiError(403, "Only administrators allowed to sudo.")
        target = st.user_by_login(sudo)
        if target is None or target.is_org:
            raise not_found(f"user does not exist [name: {sudo}]")
        req.doer = target
    if req.doer is not None and req.doer.must_change_password:
        raise ApiError(403, "You must change your password. Change it at: "
                       f"{st.root_url}user/change_password")
    if req.doer is not None and (req.doer.prohibit_login or not req.doer.active):
        raise ApiError(403, "This account is prohibited from signing in, "
                       "please contact your site administrator.")


SCOPE_CATEGORIES = ("activitypub", "admin", "issue", "misc", "notification",
                    "organization", "package", "repository", "user")


def check_scope(req, category):
    """A token's scopes must cover the route's category at the method's
    level; passwords carry every scope."""
    if category is None or req.token is None:
        return
    level = "read" if req.method in ("GET", "HEAD") else "write"
    scopes = set(req.token.scopes)
    if "all" in scopes or f"write:{category}" in scopes or \
            (level == "read" and f"read:{category}" in scopes):
        return
    raise ApiError(403, "token does not have at least one of required scope(s), "
                   f"required=[{level}:{category}], token scope="
                   f"{','.join(req.token.scopes)}")


def require_signed_in(req):
    if req.doer is None:
        raise ApiError(401, "token is required")


def require_admin(req):
    require_signed_in(req)
    if not req.doer.is_admin:
        raise ApiError(403, "reqSiteAdmin")


# -- pagination ------------------------------------------------------------

def page_args(req):
    page = max(req.int_arg("page", 1), 1)
    limit = req.int_arg("limit", 0)
    if limit <= 0:
        limit = DEFAULT_PAGING_NUM
    return page, min(limit, MAX_RESPONSE_ITEMS)


def _query_with_page(req, page):
    """The request's query with page replaced, encoded like Go's
    url.Values.Encode: keys sorted, QueryEscape'd."""
    q = {k: list(v) for k, v in req.query.items()}
    q["page"] = [str(page)]
    parts = []
    for k in sorted(q):
        for v in q[k]:
            parts.append(urllib.parse.quote_plus(k) + "=" + urllib.parse.quote_plus(v))
    return "&".join(parts)


def link_header(req, total, page_size, cur_page):
    """Gitea's genAPILinks over its paginator (current clamped to the last
    page; total 0 means one page)."""
    total_pages = 1 if total == 0 else (total + page_size - 1) // page_size
    cur = min(max(cur_page, 1), total_pages)
    has_next = total > cur * page_size
    is_last = True if total == 0 else (total > (cur - 1) * page_size and not has_next)
    path = req.path[1:]
    links = []

    def link(page, rel):
        return f'<{req.state.root_url}{path}?{_query_with_page(req, page)}>; rel="{rel}"'

    if has_next:
        links.append(link(cur + 1, "next"))
    if not is_last:
        links.append(link(total_pages, "last"))
    if cur != 1:
        links.append(link(1, "first"))
    if cur > 1:
        links.append(link(cur - 1, "prev"))
    return ",".join(links)


def paginate(req, items, with_link=True):
    """One page of items, with X-Total-Count (and Link where Gitea sends
    it; some lists send the count only)."""
    page, limit = page_args(req)
    req.out_headers.append(("X-Total-Count", str(len(items))))
    if with_link:
        link = link_header(req, len(items), limit, req.int_arg("page", 0))
        if link:
            req.out_headers.append(("Link", link))
    start = (page - 1) * limit
    return items[start:start + limit]


def encode(obj):
    return gitjson.api(obj)
