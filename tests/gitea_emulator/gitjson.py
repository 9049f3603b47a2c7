"""JSON bytes exactly as Gitea 1.26.3 writes them, and webhook signatures.

Official Gitea builds encode with Go's encoding/json/v2 (README section 1):
no HTML escaping of < > &, no escaping of U+2028/U+2029, short escapes
for \\b \\f \\n \\r \\t, \\u00xx (lower-case hex) for the other control
characters, everything else as raw UTF-8.  Python's json module with
ensure_ascii=False escapes exactly that set in exactly that way, so it is
used for strings; what differs (separators, newline, time format, lone
surrogates) is handled here.
"""

import datetime
import hashlib
import hmac
import json

GO_ZERO_TIME = "0001-01-01T00:00:00Z"     # Go's time.Time{} in RFC 3339


def time(dt):
    """RFC 3339 with whole seconds, as Go's time.Time marshals.  The offset
    is the value's own ("Z" for a zero offset, whatever the zone's name):
    model times are UTC, commit times keep the committer's offset."""
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=datetime.timezone.utc)
    text = dt.replace(microsecond=0).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def go_zero():
    """An unset Go time.Time, e.g. last_login hidden from the viewer."""
    return GO_ZERO_TIME


def _default(obj):
    if isinstance(obj, datetime.datetime):
        return time(obj)
    raise TypeError(f"not JSON for Gitea: {type(obj).__name__}")


def _check_no_floats(obj):
    # Go prints floats differently from Python; Gitea's objects have none,
    # so refuse them rather than risk a silent mismatch.
    if isinstance(obj, float):
        raise TypeError("floats are not encoded like Go's; use int or str")
    if isinstance(obj, dict):
        for v in obj.values():
            _check_no_floats(v)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            _check_no_floats(v)


def _utf8(text):
    # A lone surrogate (e.g. from a "\ud800" escape in a request) cannot be
    # UTF-8; Go writes U+FFFD for invalid text.  Round-tripping through
    # UTF-16 keeps valid pairs and replaces lone halves.
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        fixed = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
        return fixed.encode("utf-8")


def _dumps(obj, indent):
    _check_no_floats(obj)
    seps = (",", ": ") if indent is not None else (",", ":")
    return json.dumps(obj, ensure_ascii=False, allow_nan=False, indent=indent,
                      separators=seps, default=_default)


def api(obj):
    """An API answer body: json.NewEncoder(w).Encode(v), i.e. compact with
    a trailing newline."""
    return _utf8(_dumps(obj, None) + "\n")


def hook_body(obj, indent=2):
    """A webhook body: json.MarshalIndent(p, "", <indent spaces>), with no
    trailing newline.  Repository (and wiki) events use one space
    (hook.go:522-524), every other event two."""
    return _utf8(_dumps(obj, " " * indent))


def signature(secret, body):
    """(X-Gitea-Signature, X-Hub-Signature, X-Hub-Signature-256) over the
    raw body bytes.  An empty secret still sends the headers, empty
    (deliver.go:101-113)."""
    if not secret:
        return "", "sha1=", "sha256="
    key = secret.encode("utf-8")
    sha256 = hmac.new(key, body, hashlib.sha256).hexdigest()
    sha1 = hmac.new(key, body, hashlib.sha1).hexdigest()
    return sha256, "sha1=" + sha1, "sha256=" + sha256
