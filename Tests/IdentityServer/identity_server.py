#!/usr/bin/env python3
"""A local OpenID Connect / OAuth 2.0 identity server for the tests, on loopback.

It speaks the endpoints MSAL uses, shaped like Microsoft Entra ID's:

  GET  /{tenant}/v2.0/.well-known/openid-configuration   OpenID discovery
  GET  /common/discovery/instance                         instance discovery (aliases)
  GET  /{tenant}/oauth2/v2.0/authorize                    signs the user in at once and
                                                          redirects with a code (the
                                                          login_hint "decline@..." declines)
  POST /{tenant}/oauth2/v2.0/devicecode                   device authorization
  POST /{tenant}/oauth2/v2.0/token                        authorization_code (PKCE),
       refresh_token (rotated on every use: the redeemed token is refused afterwards, as
       Entra does for single-page apps and Okta, Auth0 or Keycloak do when configured),
       client_credentials (secret or a verified RS256 client assertion), device_code
       (pending, slow_down, expired), password, jwt-bearer on-behalf-of

Where Entra ID's behaviour is not the obvious one, it behaves as Entra does:
  - a tenant named by its domain (a path segment with a dot, such as
    contoso.onmicrosoft.com) is discovered with the tenant's GUID in every endpoint and in
    the issuer, and answers under both names;
  - an OAuth error's error_description spans several lines (AADSTS text, Trace ID,
    Correlation ID, Timestamp, separated by CR LF), beside error_codes, timestamp,
    trace_id and correlation_id.

Tokens are RS256 JWTs signed with an RSA key of this process, published at jwks_uri
(/{tenant}/discovery/v2.0/keys; /_control/rotate_key signs with a new key and keeps the old
one listed, as Entra rolls its keys). An access token for a resource registered with an App
ID URI names the resource's client id in aud, as a v2.0 token does. ID tokens carry the nonce, and the
response carries client_info, as Entra ID's do; an authorization code's ID token carries
auth_time. With response_mode=form_post the authorize endpoint answers with a page that
posts the code to the redirect URI, as Entra does. Every endpoint also answers under a B2C
tenant/policy path, and under /adfs/ in AD FS's shape (no "v2.0", a upn, no client_info).

Named hosts: a request carrying X-Forwarded-Host (a test transport that routes https://HOST
to this server, as DNS would) is answered as HOST over https: discovery documents name
https://HOST endpoints, and the request log says which host was asked. Instance discovery
asked of one of Entra's hosts validates as Entra does: an authorization endpoint whose host
is not one of Entra's (nor a regional variant, nor in config known_instances) gets 400
invalid_instance (AADSTS50049).

Browsers: with config login_page, an authorization request without login_hint shows a
sign-in page (username and password; it posts back to the authorization endpoint) unless
the browser already has the provider's session cookie; prompt=login asks again. A sign-in
sets that cookie; GET /{tenant}/oauth2/v2.0/logout (the end_session_endpoint) clears it and
goes to post_logout_redirect_uri. A claims request for access_token.acrs (an authentication
context) puts acrs in the access tokens of that sign-in and of its refresh tokens and
on-behalf-of exchanges; a refresh asking for acrs gets them (a session that meets them), or,
with config acrs_needs_sign_in, is refused with interaction_required, as Entra refuses a
context the session has not met.

A generic OpenID Connect realm: GET /{realm}/.well-known/openid-configuration (no v2.0)
names endpoints under /{realm}/oauth2/v2.0/ and the issuer https://HOST/{realm} (config
oidc_issuer replaces it).

Managed identity stand-ins: GET /msi/appservice (App Service: X-IDENTITY-HEADER, api-version
2019-08-01, expires_on), /msi/ml (Azure Machine Learning: the secret header, api-version
2017-09-01, clientid) and /metadata/identity/oauth2/token (IMDS: Metadata: true, api-version
2018-02-01, expires_in as text) and /arc/token (Azure Arc: a 401 challenge naming a key file it
writes into config arc_folder, then the file's content as Basic credentials, api-version
2020-06-01; it echoes a user-assigned id unless config arc_echo is false); user-assigned
identities mi-client-1 (client id), the
resource id in MANAGED_IDENTITIES, and mi-object-1 (object id). Config identity_header,
msi_secret and mi_expires_in (86399 by default) change them; faults by endpoint
mi-appservice, mi-ml or imds. GET /servicefabric/token (Service Fabric, over TLS only: the
Secret header, api-version 2019-07-01-preview, expires_on; errors as {"error": {"code",
"message"}}; user-assigned ids are the cluster's, none is sent). POST /cloudshell/oauth2/token
(Azure Cloud Shell: Metadata: true, a form with resource; a JWT for the signed-in user ann
with expires_in as text and an empty refresh_token, as the shell answers).

The tests steer it through /_control (JSON over POST):
  /_control/client    {"client_id", "secret"?, "certificate_pem"?,     a confidential client; with
                       "issuer_ca_pem"?, "subject"?,                   issuer_ca_pem and subject, known
                       "app_id_uri"?}                                  by its certificate's subject and
                                                                       issuer (x5c), as Entra's SNI;
                                                                       app_id_uri names it as a resource
  /_control/fail      {"endpoint": "token", "status", "body"?, "raw"?, "retry_after"?,
                       "delay"?, "times"?, "location"?}                 the next answers fail
                       ("times": -1 fails until /_control/clear; "location" adds that
                       Location header, for a redirect)
  /_control/clear     forget the pending failures only
  /_control/device    {"user_code", "approve": true, "user"?}         approve a device code
  /_control/revoke    {"refresh_token"}                                a refresh token dies
  /_control/requests  (GET) what it received: endpoint, grant_type, client_id, scope,
                      path, claims, domain_hint, max_age, response_mode, anchor, sku (x-client-sku: MSAL.Python, MSAL.Swift...), pid
                      (x-client-pid), and for refresh grants rt (a fingerprint of the
                      refresh token sent), status and issued_rt (of the one issued)
  /_control/config    {"refresh_in"?, "expires_in"?, "foci"?, "device_interval"?,
                       "rotate_refresh_tokens"?, "auth_age"?}  (rotation is on by default;
                       auth_age: how many seconds before a sign-in the user last
                       authenticated, the ID token's auth_time)
  /_control/reset     forget the received requests and pending failures

Start: identity_server.py [--tls CERT KEY]; it prints "PORT <n>" when it listens over
plain HTTP and, with --tls, "TLS_PORT <n>" for the same server over HTTPS.
"""

import base64
import hashlib
import hmac
import json
import os
import secrets
import ssl
import sys
import threading
import time
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TENANT_ID = "7e0ab0d0-0000-4000-8000-00000000a1d0"
# The managed identity stand-ins: their paths (the App Service and Machine Learning
# endpoints are whatever the platform's variables name; IMDS's path is fixed), and the
# user-assigned identities they know, by client id, resource id and object id.
MANAGED_IDENTITY_ENDPOINTS = {"/msi/appservice": "mi-appservice", "/msi/ml": "mi-ml", "/metadata/identity/oauth2/token": "imds",
                              "/arc/token": "mi-arc", "/servicefabric/token": "mi-servicefabric"}
# Entra's own hosts (MSAL's WELL_KNOWN_AUTHORITY_HOSTS), which its instance discovery knows.
ENTRA_HOSTS = {"login.microsoftonline.com", "login.microsoft.com", "login.windows.net", "sts.windows.net", "login.chinacloudapi.cn",
               "login.partner.microsoftonline.cn", "login.microsoftonline.de", "login-us.microsoftonline.com", "login.microsoftonline.us",
               "login.usgovcloudapi.net", "login.sovcloud-identity.fr", "login.sovcloud-identity.de", "login.sovcloud-identity.sg"}
MANAGED_IDENTITIES = {
    "mi-client-1": "mi-object-1",
    "/subscriptions/s1/resourcegroups/rg1/providers/Microsoft.ManagedIdentity/userAssignedIdentities/mi1": "mi-object-1",
    "mi-object-1": "mi-object-1",
}

USERS = {
    "ann": {"oid": "00000000-0000-4000-8000-0000000000a1", "username": "ann@contoso.example", "password": "pw-ann-1"},
    "bob": {"oid": "00000000-0000-4000-8000-0000000000b0", "username": "bob@contoso.example", "password": "pw-bob-1"},
}
# AADSTS codes for the errors this server sends.
ENTRA_CODES = {"invalid_grant": 70000, "invalid_client": 7000215, "invalid_request": 900144,
               "unsupported_grant_type": 70003, "authorization_pending": 70016, "slow_down": 70016,
               "expired_token": 70019, "interaction_required": 50076}


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def fingerprint(token):
    """A short, one-way name for a token, for the request log."""
    return hashlib.sha256(token.encode()).hexdigest()[:12]


class SigningKeys:
    """The RSA keys tokens are signed with (RS256), published at jwks_uri as Entra publishes
    its keys: the newest signs, and a rotated-out key stays listed, so a validator that
    meets an unknown kid must fetch the set again."""

    def __init__(self):
        self.lock = threading.Lock()
        self.keys = []  # (kid, private key), newest last
        self.rotate()

    def rotate(self):
        from cryptography.hazmat.primitives.asymmetric import rsa
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        with self.lock:
            self.keys.append((secrets.token_hex(8), key))

    def current(self):
        with self.lock:
            return self.keys[-1]

    def find(self, kid):
        with self.lock:
            return next((key for k, key in self.keys if k == kid), None)

    def jwks(self):
        def unsigned(number):
            return b64url(number.to_bytes((number.bit_length() + 7) // 8, "big"))
        with self.lock:
            keys = list(self.keys)
        return {"keys": [{"kty": "RSA", "use": "sig", "kid": kid, "n": unsigned(key.public_key().public_numbers().n),
                          "e": unsigned(key.public_key().public_numbers().e)} for kid, key in reversed(keys)]}


SIGNING_KEYS = SigningKeys()

# IDP_SYNTHETIC_USERS=N adds users user0..user{N-1} (password pw-userI), for benchmarks
# that sign in many users.
for _index in range(int(os.environ.get("IDP_SYNTHETIC_USERS", "0"))):
    USERS[f"user{_index}"] = {"oid": str(uuid.UUID(int=(0xB0 << 64) + _index)), "username": f"user{_index}@contoso.example",
                              "password": f"pw-user{_index}"}


def sign_jwt(claims, kid, key):
    """A compact RS256 JWT of `claims`, signed with `key` and naming `kid`."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding
    header = b64url(json.dumps({"alg": "RS256", "typ": "JWT", "kid": kid}).encode())
    payload = b64url(json.dumps(claims).encode())
    signature = key.sign(f"{header}.{payload}".encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{header}.{payload}.{b64url(signature)}"


def make_jwt(claims):
    kid, key = SIGNING_KEYS.current()
    return sign_jwt(claims, kid, key)


def read_own_jwt(token):
    """The claims of a JWT this server issued (signed with one of its keys), or None."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding
    try:
        header, payload, signature = token.split(".")
        key = SIGNING_KEYS.find(json.loads(b64url_decode(header)).get("kid"))
        if key is None:
            return None
        key.public_key().verify(b64url_decode(signature), f"{header}.{payload}".encode(), padding.PKCS1v15(), hashes.SHA256())
        return json.loads(b64url_decode(payload))
    except Exception:
        return None


class State:
    def __init__(self):
        self.lock = threading.RLock()  # re-entered when an error is noted under it
        self.clients = {}          # client_id -> {"secret", "certificate"}
        self.codes = {}            # code -> grant
        self.refresh_tokens = {}   # token -> grant
        self.devices = {}          # device_code -> record
        self.sessions = {}         # the provider's browser sessions: cookie value -> user
        self.faults = []           # pending injected failures
        self.requests = []         # what was received (no secrets)
        self.assertion_ids = set()
        self.config = {"expires_in": 3600, "refresh_in": None, "foci": None, "device_interval": 1,
                       "rotate_refresh_tokens": True}


STATE = State()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "LocalIdentity/1"

    def log_message(self, *args):
        pass  # quiet: the tests read /_control/requests instead

    # -- plumbing -------------------------------------------------------------------

    def base_url(self):
        if self.headers.get("X-Forwarded-Host"):
            return f"https://{self.headers.get('X-Forwarded-Host')}"
        scheme = "https" if isinstance(self.connection, ssl.SSLSocket) else "http"
        return f"{scheme}://{self.headers.get('Host')}"

    def host(self):
        """The host the client asked for (a routed name, or this server's address)."""
        return self.headers.get("X-Forwarded-Host") or self.headers.get("Host")

    @staticmethod
    def known_to_entra(host):
        """Whether Entra's instance discovery knows `host`: its own hosts, their regional
        variants (westus2.login.microsoft.com), and config known_instances."""
        host = (host or "").lower().split(":")[0]
        if host in ENTRA_HOSTS or host in STATE.config.get("known_instances", []):
            return True
        first, _, rest = host.partition(".")
        return bool(first) and rest in ENTRA_HOSTS

    def send_json(self, status, body, headers=None):
        data = json.dumps(body).encode()
        self.send_raw(status, data, "application/json", headers)

    def send_raw(self, status, data, content_type="application/json", headers=None):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def oauth_error(self, error, description, status=400, suberror=None):
        """An OAuth error shaped as Entra ID sends it: the description spans several lines."""
        correlation = self.headers.get("client-request-id") or secrets.token_hex(8)
        trace = str(uuid.uuid4())
        stamp = time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime())
        code = ENTRA_CODES.get(error, 50000)
        body = {"error": error,
                "error_description": f"AADSTS{code}: {error}: {description}\r\nTrace ID: {trace}\r\n"
                                     f"Correlation ID: {correlation}\r\nTimestamp: {stamp}",
                "error_codes": [code], "timestamp": stamp, "trace_id": trace, "correlation_id": correlation,
                "error_uri": f"{self.base_url()}/error?code={code}"}
        if suberror:
            body["suberror"] = suberror
        self.note(status=status)
        self.send_json(status, body)

    def form(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length).decode()
        self.posted = {k: v[0] for k, v in urllib.parse.parse_qs(raw, keep_blank_values=True).items()}
        return self.posted

    def cloud_shell(self, form):
        """Azure Cloud Shell's token endpoint: the signed-in user's token for a resource."""
        entry = {"endpoint": "cloudshell", "resource": form.get("resource"), "token_type": form.get("token_type"),
                 "headers": ",".join(sorted(h for h in ("Metadata",) if self.headers.get(h) is not None)), "time": f"{time.time():.6f}"}
        with STATE.lock:
            STATE.requests.append(entry)
        if self.injected_fault("cloudshell"):
            return
        if self.headers.get("Metadata") != "true":
            return self.send_json(400, {"error": {"code": "BadRequest", "message": "Required metadata header not specified"}})
        if not form.get("resource"):
            return self.send_json(400, {"error": {"code": "BadRequest", "message": "resource is required"}})
        now = int(time.time())
        user = USERS["ann"]
        claims = {"aud": form["resource"], "iss": f"https://sts.windows.net/{TENANT_ID}/", "iat": now, "nbf": now, "exp": now + 3600,
                  "oid": user["oid"], "sub": "cloudshell-sub-" + user["oid"][-4:], "tid": TENANT_ID, "unique_name": user["username"],
                  "jti": secrets.token_hex(8)}
        return self.send_json(200, {"access_token": make_jwt(claims), "refresh_token": "", "expires_in": "3599",
                                    "expires_on": str(now + 3599), "not_before": str(now), "resource": form["resource"], "token_type": "Bearer"})

    def managed_identity(self, source, query):
        """A managed identity endpoint as the platform documents it: App Service
        (X-IDENTITY-HEADER, api-version 2019-08-01, expires_on), Azure Machine Learning (the
        secret header, api-version 2017-09-01, clientid), or IMDS (Metadata: true,
        api-version 2018-02-01, expires_in as text). Logs the query and the names of the
        headers sent, never their values."""
        entry = {"endpoint": source, "path": urllib.parse.urlsplit(self.path).path,
                 "query": "&".join(f"{k}={v}" for k, v in sorted(query.items()) if k != "x-ms-client-request-id"),
                 "headers": ",".join(sorted(h for h in ("Authorization", "Metadata", "X-IDENTITY-HEADER", "Secret", "x-client-SKU", "x-ms-client-request-id")
                                            if self.headers.get(h) is not None)),
                 "time": f"{time.time():.6f}"}
        with STATE.lock:
            STATE.requests.append(entry)
        if self.injected_fault(source):
            return
        if source == "mi-arc":
            # Azure Arc: a request without credentials gets a challenge naming a key file the
            # agent just wrote into its folder; the file's content is the credential.
            folder = STATE.config.get("arc_folder", "/var/opt/azcmagent/tokens")
            presented = self.headers.get("Authorization")
            if not presented:
                name = secrets.token_hex(8)
                STATE.arc_secret = secrets.token_urlsafe(24)
                with open(os.path.join(folder, name + ".key"), "w") as handle:
                    handle.write(STATE.arc_secret)
                self.send_response(401)
                self.send_header("WWW-Authenticate", f"Basic realm={folder}/{name}.key")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if STATE.config.get("arc_reject") or presented != "Basic " + getattr(STATE, "arc_secret", ""):
                return self.send_json(401, {"error": "invalid_client", "error_description": "the key is wrong"})
        version, header, secret, expiry = {
            "mi-appservice": ("2019-08-01", "X-IDENTITY-HEADER", STATE.config.get("identity_header", "identity-header-secret"), "expires_on"),
            "mi-ml": ("2017-09-01", "secret", STATE.config.get("msi_secret", "msi-secret-value"), "expires_on"),
            "imds": ("2018-02-01", "Metadata", "true", "expires_in"),
            "mi-arc": ("2020-06-01", "Metadata", "true", "expires_in"),
            "mi-servicefabric": ("2019-07-01-preview", "Secret", None, "expires_on"),
        }[source]
        if source == "mi-servicefabric":
            if not isinstance(self.connection, ssl.SSLSocket):
                return self.send_json(400, {"error": {"code": "BadRequest", "message": "Service Fabric's endpoint is served over TLS only"}})
            if self.headers.get("Secret") != STATE.config.get("identity_header", "identity-header-secret"):
                return self.send_json(401, {"error": {"code": "SecretHeaderNotFound", "message": "Secret is not found in the request headers."}})
            if query.get("api-version") != "2019-07-01-preview" or not query.get("resource"):
                return self.send_json(400, {"error": {"code": "ArgumentNullOrEmpty", "message": "Value cannot be null or empty. Parameter name: resource"}})
        elif self.headers.get(header) != secret:
            if source == "imds":
                return self.send_json(400, {"error": "invalid_request", "error_description": "Required metadata header not specified"})
            return self.send_json(401, {"statusCode": 401, "message": "The identity header is missing or wrong."})
        if query.get("api-version") != version or not query.get("resource"):
            return self.send_json(400, {"error": "invalid_request", "error_description": f"api-version {version} and resource are required"})
        names = {"client_id", "clientid", "mi_res_id", "msi_res_id", "object_id"} & set(query)
        chosen = [query[n] for n in names]
        if chosen and chosen[0] not in MANAGED_IDENTITIES:
            if source == "imds":
                return self.send_json(400, {"error": "invalid_request", "error_description": "Identity not found"})
            return self.send_json(400, {"statusCode": 400, "message": "No managed identity found for the given id."})
        identity = MANAGED_IDENTITIES.get(chosen[0] if chosen else "", "system-assigned")
        now = int(time.time())
        expires_in = int(STATE.config.get("mi_expires_in", 86399))
        claims = {"aud": query["resource"], "iss": f"{self.base_url()}/{TENANT_ID}/", "iat": now, "exp": now + expires_in,
                  "oid": identity, "sub": identity, "tid": TENANT_ID, "jti": secrets.token_hex(8)}
        body = {"access_token": make_jwt(claims), "expires_on": str(now + expires_in), "resource": query["resource"], "token_type": "Bearer"}
        if expiry == "expires_in":
            body.update({"expires_in": str(expires_in), "ext_expires_in": str(expires_in), "not_before": str(now), "client_id": identity})
        if source == "mi-arc" and chosen and STATE.config.get("arc_echo", True):
            # An agent that serves user-assigned identities echoes the one it used.
            body.update({name: query[name] for name in names})
        return self.send_json(200, body)

    def injected_fault(self, endpoint):
        with STATE.lock:
            for fault in STATE.faults:
                if fault.get("endpoint", "token") == endpoint:
                    if fault.get("times", 1) >= 0:  # -1: until /_control/clear
                        fault["times"] = fault.get("times", 1) - 1
                        if fault["times"] <= 0:
                            STATE.faults.remove(fault)
                    break
            else:
                return False
        if fault.get("delay"):
            time.sleep(fault["delay"])
            if not fault.get("status"):
                return False
        headers = {"Retry-After": str(fault["retry_after"])} if "retry_after" in fault else {}
        if "location" in fault:
            headers["Location"] = fault["location"]
        if "raw" in fault:
            self.send_raw(fault.get("status", 200), fault["raw"].encode(), headers=headers)
        else:
            body = fault.get("body") or {"error": "server_error", "error_description": "injected failure",
                                         "correlation_id": "injected"}
            self.send_json(fault.get("status", 500), body, headers)
        return True

    def record(self, endpoint, form=None):
        """Remembers a request (never a secret: a refresh token only as a fingerprint)."""
        form = form or {}
        entry = {"endpoint": endpoint, "grant_type": form.get("grant_type"),
                 "client_id": form.get("client_id"), "scope": form.get("scope"),
                 "claims": form.get("claims"), "path": urllib.parse.urlsplit(self.path).path,
                 "domain_hint": form.get("domain_hint"), "max_age": form.get("max_age"),
                 "response_mode": form.get("response_mode"), "token_type": form.get("token_type"),
                 "key_id": form.get("key_id"),
                 "anchor": self.headers.get("X-AnchorMailbox"), "sku": self.headers.get("x-client-sku"),
                 "pid": self.headers.get("x-client-pid"), "host": self.host(),
                 "client_ver": self.headers.get("x-client-ver"), "client_os": self.headers.get("x-client-os"),
                 "lib_capability": self.headers.get("x-ms-lib-capability"), "app_name": self.headers.get("x-app-name"),
                 "app_ver": self.headers.get("x-app-ver"), "state": form.get("state"), "nonce": form.get("nonce"),
                 "code_challenge": form.get("code_challenge"), "time": f"{time.time():.6f}"}
        if form.get("refresh_token"):
            entry["rt"] = fingerprint(form["refresh_token"])
        with STATE.lock:
            STATE.requests.append(entry)
        self.recorded = entry

    def note(self, **fields):
        """Adds what the answer was to the request just recorded."""
        with STATE.lock:
            getattr(self, "recorded", {}).update({k: str(v) for k, v in fields.items()})

    # -- routes ---------------------------------------------------------------------

    @staticmethod
    def route(parts, v2_suffix, adfs_suffix):
        """The tenant path (B2C: tenant/policy; AD FS: adfs) of a request for an endpoint."""
        if len(parts) > len(v2_suffix) and parts[-len(v2_suffix):] == v2_suffix:
            return "/".join(parts[:-len(v2_suffix)])
        if parts[:1] == ["adfs"] and parts[1:] == adfs_suffix:
            return "adfs"
        return None

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        query = {k: v[0] for k, v in urllib.parse.parse_qs(url.query).items()}
        parts = [p for p in url.path.split("/") if p]
        if url.path == "/_control/requests":
            with STATE.lock:
                return self.send_json(200, STATE.requests)
        if url.path in MANAGED_IDENTITY_ENDPOINTS:
            return self.managed_identity(MANAGED_IDENTITY_ENDPOINTS[url.path], query)
        if parts == ["common", "discovery", "instance"]:
            self.record("instance-discovery")
            if self.injected_fault("instance-discovery"):
                return
            host = urllib.parse.urlsplit(query.get("authorization_endpoint", self.base_url())).netloc
            if self.host() in ENTRA_HOSTS and not self.known_to_entra(host):
                correlation = secrets.token_hex(8)
                trace = str(uuid.uuid4())
                stamp = time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime())
                return self.send_json(400, {
                    "error": "invalid_instance",
                    "error_description": f"AADSTS50049: Unknown or invalid instance.\r\nTrace ID: {trace}\r\nCorrelation ID: {correlation}\r\nTimestamp: {stamp}",
                    "error_codes": [50049], "timestamp": stamp, "trace_id": trace, "correlation_id": correlation,
                    "error_uri": f"{self.base_url()}/error?code=50049"})
            return self.send_json(200, {
                "tenant_discovery_endpoint": f"{self.base_url()}/{TENANT_ID}/v2.0/.well-known/openid-configuration",
                "api-version": "1.1",
                "metadata": [{"preferred_network": host, "preferred_cache": host, "aliases": [host]}],
            })
        if len(parts) == 3 and parts[1:] == [".well-known", "openid-configuration"] and parts[0] != "adfs":
            # A generic OpenID Connect realm.
            self.record("openid-configuration")
            base = f"{self.base_url()}/{parts[0]}"
            return self.send_json(200, {
                "issuer": STATE.config.get("oidc_issuer", base),
                "authorization_endpoint": f"{base}/oauth2/v2.0/authorize", "token_endpoint": f"{base}/oauth2/v2.0/token",
                "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode", "jwks_uri": f"{base}/keys",
                "response_types_supported": ["code"], "subject_types_supported": ["public"], "id_token_signing_alg_values_supported": ["RS256"]})
        tenant = self.route(parts, ["v2.0", ".well-known", "openid-configuration"], [".well-known", "openid-configuration"])
        if tenant:
            self.record("openid-configuration")
            if self.injected_fault("openid-configuration"):
                return
            return self.send_json(200, self.openid_configuration(tenant))
        if self.route(parts, ["discovery", "v2.0", "keys"], ["discovery", "keys"]) or (len(parts) == 2 and parts[1] == "keys"):
            self.record("keys")
            if self.injected_fault("keys"):
                return
            return self.send_json(200, SIGNING_KEYS.jwks())
        tenant = self.route(parts, ["oauth2", "v2.0", "authorize"], ["oauth2", "authorize"])
        if tenant:
            return self.authorize(tenant, query)
        tenant = self.route(parts, ["oauth2", "v2.0", "logout"], ["oauth2", "logout"])
        if tenant:
            return self.logout(query)
        self.send_json(404, {"error": "not_found"})

    def do_POST(self):
        url = urllib.parse.urlsplit(self.path)
        parts = [p for p in url.path.split("/") if p]
        if parts and parts[0] == "_control":
            return self.control(parts[1] if len(parts) > 1 else "")
        form = self.form()
        tenant = self.route(parts, ["oauth2", "v2.0", "authorize"], ["oauth2", "authorize"])
        if tenant:
            return self.sign_in_form(tenant, form)
        if url.path == "/cloudshell/oauth2/token":
            return self.cloud_shell(form)
        tenant = self.route(parts, ["oauth2", "v2.0", "devicecode"], ["oauth2", "devicecode"])
        if tenant:
            self.record("devicecode", form)
            if self.injected_fault("devicecode"):
                return
            return self.device_code(tenant, form)
        tenant = self.route(parts, ["oauth2", "v2.0", "token"], ["oauth2", "token"])
        if tenant:
            self.record("token", form)
            if self.injected_fault("token"):
                return
            return self.token(tenant, form)
        self.send_json(404, {"error": "not_found"})

    def openid_configuration(self, tenant):
        if "." in tenant and "/" not in tenant:
            # Entra names a tenant's GUID in the endpoints of its domain-named authority.
            tenant = TENANT_ID
        base = f"{self.base_url()}/{tenant}"
        if tenant == "adfs":
            # AD FS: endpoints without "v2.0", an issuer without a tenant.
            return {"issuer": base, "authorization_endpoint": f"{base}/oauth2/authorize",
                    "token_endpoint": f"{base}/oauth2/token", "device_authorization_endpoint": f"{base}/oauth2/devicecode"}
        issuer_tenant = TENANT_ID if tenant in ("common", "organizations", "consumers") else tenant
        return {
            "issuer": f"{self.base_url()}/{issuer_tenant}/v2.0",
            "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
            "token_endpoint": f"{base}/oauth2/v2.0/token",
            "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
            "end_session_endpoint": f"{base}/oauth2/v2.0/logout",
            "jwks_uri": f"{base}/discovery/v2.0/keys",
            "response_types_supported": ["code", "id_token", "code id_token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
        }

    def authorize(self, tenant, query):
        self.record("authorize", query)
        if self.injected_fault("authorize"):
            return
        redirect = query.get("redirect_uri")
        if not redirect or query.get("response_type") != "code":
            return self.oauth_error("invalid_request", "redirect_uri and response_type=code are required")
        hint = query.get("login_hint")
        session = self.session_user()
        if not hint and STATE.config.get("login_page") and (not session or query.get("prompt") == "login"):
            return self.login_page(query)
        user = (hint or session or "ann").split("@")[0]
        if user == "decline":
            params = {"error": "access_denied", "error_description": "The user declined to sign in."}
            if "state" in query:
                params["state"] = query["state"]
            return self.redirect_to(redirect, params)
        if user not in USERS:
            user = "ann"
        code = "code-" + secrets.token_urlsafe(24)
        with STATE.lock:
            STATE.codes[code] = {"client_id": query.get("client_id"), "redirect_uri": redirect, "user": user,
                                 "tenant": tenant, "scope": query.get("scope", ""), "nonce": query.get("nonce"),
                                 "challenge": query.get("code_challenge"),
                                 "method": query.get("code_challenge_method", "plain"),
                                 "acrs": self.requested_acrs(query.get("claims")),
                                 # When the user last authenticated: now, or as long ago as
                                 # config "auth_age" says (a session the provider reused).
                                 "auth_time": int(time.time()) - int(STATE.config.get("auth_age", 0))}
        params = {"code": code, "client_info": self.client_info(user)}
        if "state" in query:
            params["state"] = query["state"]
        if query.get("response_mode") == "form_post":
            return self.form_post(redirect, params, session=user)
        self.redirect_to(redirect, params, session=user)

    @staticmethod
    def requested_acrs(claims):
        """The authentication context values a claims request asks the access token for
        (access_token.acrs, with "value" or "values"), as a list."""
        try:
            acrs = json.loads(claims)["access_token"]["acrs"]
        except Exception:
            return []
        values = acrs.get("values") or ([acrs["value"]] if "value" in acrs else [])
        return [str(v) for v in values]

    def session_user(self):
        """The user this browser signed in as (the provider's own session cookie), or None."""
        for part in (self.headers.get("Cookie") or "").split(";"):
            name, _, value = part.strip().partition("=")
            if name == "idp_session":
                user = STATE.sessions.get(value)
                if user:
                    return user
        return None

    def login_page(self, query, problem=""):
        """The provider's sign-in page: a username and password form that posts back to the
        authorization endpoint with the request's parameters."""
        import html
        fields = "".join(f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}"/>' for k, v in query.items())
        page = (f'<html><head><title>Sign in</title></head><body><h1>Sign in</h1><p id="problem">{html.escape(problem)}</p>'
                f'<form method="POST">{fields}<input id="username" name="username"/><input id="password" name="password" type="password"/>'
                f'<button id="submit" type="submit">Sign in</button></form></body></html>').encode()
        self.send_raw(200, page, content_type="text/html; charset=utf-8")

    def sign_in_form(self, tenant, form):
        """The sign-in page's post: a right password signs the user in (with a session
        cookie, so the next authorization request needs no form) and answers the request."""
        username = form.pop("username", "")
        password = form.pop("password", "")
        user = username.split("@")[0]
        self.record("sign-in", {"username": username})
        if user not in USERS or not hmac.compare_digest(USERS[user]["password"], password):
            return self.login_page(form, "The username or password is incorrect.")
        form["login_hint"] = USERS[user]["username"]
        form.pop("prompt", None)
        self.authorize(tenant, form)

    def logout(self, query):
        """The end-session endpoint: forgets the browser's session and goes back to
        post_logout_redirect_uri when one is given."""
        self.record("logout", query)
        cookie = "idp_session=; Path=/; Max-Age=0"
        redirect = query.get("post_logout_redirect_uri")
        if redirect:
            self.send_response(302)
            self.send_header("Location", redirect)
        else:
            self.send_response(200)
        self.send_header("Set-Cookie", cookie)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def session_cookie(self, user):
        if not user:
            return None
        session = secrets.token_urlsafe(16)
        with STATE.lock:
            STATE.sessions[session] = user
        return f"idp_session={session}; Path=/; HttpOnly"

    def form_post(self, redirect, params, session=None):
        """Answers as Entra does for response_mode=form_post: a page whose form the browser
        posts to the redirect URI at once."""
        import html
        fields = "".join(f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}"/>' for k, v in params.items())
        page = (f'<html><body onload="document.forms[0].submit()"><form method="POST" action="{html.escape(redirect)}">'
                f'{fields}</form></body></html>').encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(page)))
        cookie = self.session_cookie(session)
        if cookie:
            self.send_header("Set-Cookie", cookie)
        self.end_headers()
        self.wfile.write(page)

    def redirect_to(self, redirect, params, session=None):
        self.send_response(302)
        self.send_header("Location", redirect + ("&" if "?" in redirect else "?") + urllib.parse.urlencode(params))
        cookie = self.session_cookie(session)
        if cookie:
            self.send_header("Set-Cookie", cookie)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def device_code(self, tenant, form):
        device = "device-" + secrets.token_urlsafe(24)
        user_code = secrets.token_hex(4).upper()
        interval = STATE.config["device_interval"]
        with STATE.lock:
            STATE.devices[device] = {"client_id": form.get("client_id"), "tenant": tenant, "user_code": user_code,
                                     "scope": form.get("scope", ""), "approved_user": None, "expires": time.time() + 60,
                                     "last_poll": 0.0, "interval": interval}
        self.send_json(200, {
            "device_code": device, "user_code": user_code, "verification_uri": f"{self.base_url()}/devicelogin",
            "expires_in": 60, "interval": interval,
            "message": f"To sign in, open {self.base_url()}/devicelogin and enter the code {user_code}.",
        })

    # -- the token endpoint -----------------------------------------------------------

    def token(self, tenant, form):
        grant = form.get("grant_type")
        client_id = form.get("client_id")
        if not client_id:
            return self.oauth_error("invalid_request", "client_id is missing")
        confidential = STATE.clients.get(client_id)
        if confidential or "client_secret" in form or "client_assertion" in form:
            if not self.authenticate_client(tenant, client_id, form):
                return
        scopes = form.get("scope", "").split()
        if grant == "authorization_code":
            with STATE.lock:
                record = STATE.codes.pop(form.get("code", ""), None)
            if not record or record["client_id"] != client_id:
                return self.oauth_error("invalid_grant", "the code is unknown, used, or for another client")
            if record["redirect_uri"] != form.get("redirect_uri"):
                return self.oauth_error("invalid_grant", "redirect_uri does not match the authorization request")
            if record["challenge"]:
                verifier = form.get("code_verifier", "")
                derived = b64url(hashlib.sha256(verifier.encode()).digest()) if record["method"] == "S256" else verifier
                if derived != record["challenge"]:
                    return self.oauth_error("invalid_grant", "the code_verifier does not match the code_challenge")
            return self.user_tokens(client_id, record["user"], scopes or record["scope"].split(), record["nonce"], grant,
                                    auth_time=record["auth_time"], acrs=record.get("acrs"))
        if grant == "refresh_token":
            presented = form.get("refresh_token", "")
            with STATE.lock:
                record = STATE.refresh_tokens.get(presented)
                family = record and record.get("foci")
                usable = record and (record["client_id"] == client_id or family)
                if usable and STATE.config.get("rotate_refresh_tokens", True):
                    # Redeemed once: the next use of the same token is refused.
                    del STATE.refresh_tokens[presented]
            if not record:
                return self.oauth_error("invalid_grant", "the refresh token is unknown, revoked, expired or already redeemed", suberror="bad_token")
            if not usable:
                return self.oauth_error("invalid_grant", "the refresh token belongs to another client",
                                        suberror="client_mismatch")
            if STATE.config.get("acrs_needs_sign_in"):
                missing = [v for v in self.requested_acrs(form.get("claims")) if v not in (record.get("acrs") or [])]
                if missing:
                    # Entra: an authentication context the session has not met needs the user.
                    return self.oauth_error("interaction_required", f"the authentication context {', '.join(missing)} needs the user to sign in again")
            acrs = sorted(set(record.get("acrs") or []) | set(self.requested_acrs(form.get("claims"))))
            return self.user_tokens(client_id, record["user"], scopes, None, grant, acrs=acrs)
        if grant == "client_credentials":
            if not confidential:
                return self.oauth_error("invalid_client", "this client has no credentials registered", status=401)
            return self.send_json(200, self.access_token(client_id, None, scopes))
        if grant == "urn:ietf:params:oauth:grant-type:device_code":
            return self.poll_device(client_id, form.get("device_code", ""), scopes)
        if grant == "password":
            user = form.get("username", "").split("@")[0]
            if user not in USERS or USERS[user]["password"] != form.get("password"):
                return self.oauth_error("invalid_grant", "the username or password is incorrect")
            return self.user_tokens(client_id, user, scopes, None, grant)
        if grant == "urn:ietf:params:oauth:grant-type:jwt-bearer":
            if form.get("requested_token_use") != "on_behalf_of":
                return self.oauth_error("invalid_request", "requested_token_use must be on_behalf_of")
            claims = read_own_jwt(form.get("assertion", ""))
            if not claims or claims.get("aud") != client_id or claims.get("exp", 0) < time.time():
                return self.oauth_error("invalid_grant", "the assertion is not a valid token for this client (wrong audience, expired or not ours)")
            user = next((name for name, u in USERS.items() if u["oid"] == claims.get("oid")), None)
            if not user:
                return self.oauth_error("invalid_grant", "the assertion names no known user")
            return self.user_tokens(client_id, user, scopes, None, grant, acrs=claims.get("acrs"))
        return self.oauth_error("unsupported_grant_type", f"grant_type {grant!r} is not supported")

    def authenticate_client(self, tenant, client_id, form):
        client = STATE.clients.get(client_id)
        if not client:
            self.oauth_error("invalid_client", "the client is not registered as confidential", status=401)
            return False
        if "client_secret" in form:
            if client.get("secret") and hmac.compare_digest(client["secret"], form["client_secret"]):
                return True
            self.oauth_error("invalid_client", "the client secret is wrong", status=401)
            return False
        if form.get("client_assertion_type") == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer":
            problem = self.verify_assertion(tenant, client_id, client, form.get("client_assertion", ""))
            if problem is None:
                return True
            self.oauth_error("invalid_client", problem, status=401)
            return False
        self.oauth_error("invalid_client", "no client credential was sent", status=401)
        return False

    def verify_assertion(self, tenant, client_id, client, assertion):
        """None when `assertion` is a valid RS256 or PS256 client assertion of `client`, else
        why not. A client registered by subject and issuer must send its certificate chain
        (x5c): its first certificate must carry the subject and be signed by the issuer."""
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import padding
        from cryptography.x509.oid import NameOID
        if not client.get("certificate") and not client.get("issuer_ca"):
            return "no certificate is registered for this client"
        try:
            header_b64, payload_b64, signature_b64 = assertion.split(".")
            header = json.loads(b64url_decode(header_b64))
            claims = json.loads(b64url_decode(payload_b64))
        except Exception:
            return "the client assertion is not a JWT"
        self.note(assertion_alg=header.get("alg"), assertion_x5c=len(header.get("x5c") or []),
                  assertion_claims=",".join(sorted(claims)))
        if header.get("alg") != "RS256" and header.get("alg") != "PS256":
            return "the client assertion must be signed with RS256 or PS256"
        if client.get("issuer_ca"):
            try:
                certificate = x509.load_der_x509_certificate(base64.b64decode(header["x5c"][0]))
            except Exception:
                return "the client assertion carries no certificate chain (x5c), which subject name and issuer authentication needs"
            issuer = x509.load_pem_x509_certificate(client["issuer_ca"].encode())
            try:
                issuer.public_key().verify(certificate.signature, certificate.tbs_certificate_bytes, padding.PKCS1v15(), certificate.signature_hash_algorithm)
            except Exception:
                return "the client assertion's certificate was not issued by the registered issuer"
            names = [a.value for a in certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
            if names != [client.get("subject")]:
                return "the client assertion's certificate does not carry the registered subject"
        else:
            certificate = x509.load_pem_x509_certificate(client["certificate"].encode())
            der = certificate.public_bytes(serialization.Encoding.DER)
            thumbprints = {b64url(hashlib.sha1(der).digest()), b64url(hashlib.sha256(der).digest())}
            # Entra takes a thumbprint with or without base64 padding (MSAL Python pads it).
            presented = {str(header.get(name) or "").rstrip("=") for name in ("x5t", "x5t#S256")}
            if not presented & thumbprints:
                return "the client assertion's thumbprint does not match the registered certificate"
        try:
            chosen = padding.PKCS1v15() if header["alg"] == "RS256" else padding.PSS(padding.MGF1(hashes.SHA256()), padding.PSS.DIGEST_LENGTH)
            certificate.public_key().verify(b64url_decode(signature_b64), f"{header_b64}.{payload_b64}".encode(), chosen, hashes.SHA256())
        except Exception:
            return "the client assertion's signature does not verify"
        expected_audiences = {f"{self.base_url()}/{tenant}/oauth2/v2.0/token"}
        first, _, rest = (self.host() or "").partition(".")
        if rest in ENTRA_HOSTS:
            # A regional host takes an assertion for its cloud's central endpoint, which is
            # what MSAL signs for.
            expected_audiences |= {f"https://{host}/{tenant}/oauth2/v2.0/token" for host in ENTRA_HOSTS}
        with STATE.lock:
            getattr(self, "recorded", {})["assertion_aud"] = str(claims.get("aud"))
        if claims.get("aud") not in expected_audiences:
            return "the client assertion's audience is not this token endpoint"
        if claims.get("iss") != client_id or claims.get("sub") != client_id:
            return "the client assertion's iss and sub must be the client id"
        # A NumericDate may have a fraction (MSAL Python's has one), as Entra accepts.
        if not isinstance(claims.get("exp"), (int, float)) or isinstance(claims["exp"], bool) or claims["exp"] < time.time():
            return "the client assertion has expired"
        with STATE.lock:
            if claims.get("jti") in STATE.assertion_ids:
                return "the client assertion was already used (jti)"
            STATE.assertion_ids.add(claims.get("jti"))
        return None

    def poll_device(self, client_id, device_code, scopes):
        now = time.time()
        with STATE.lock:
            record = STATE.devices.get(device_code)
            if not record or record["client_id"] != client_id:
                return self.oauth_error("invalid_grant", "the device code is unknown")
            if now > record["expires"]:
                return self.oauth_error("expired_token", "the device code expired")
            too_soon = now - record["last_poll"] < record["interval"] * 0.9
            record["last_poll"] = now
            user = record["approved_user"]
        if too_soon:
            return self.oauth_error("slow_down", "polled faster than the interval")
        if not user:
            return self.oauth_error("authorization_pending", "the user has not finished signing in")
        with STATE.lock:
            STATE.devices.pop(device_code, None)
        return self.user_tokens(client_id, user, scopes or record["scope"].split(), None,
                                "urn:ietf:params:oauth:grant-type:device_code")

    # -- tokens -------------------------------------------------------------------------

    def client_info(self, user):
        return b64url(json.dumps({"uid": USERS[user]["oid"], "utid": TENANT_ID}).encode())

    def access_token(self, client_id, user, scopes, acrs=None):
        now = int(time.time())
        expires_in = STATE.config["expires_in"]
        resource_scopes = [s for s in scopes if s not in ("openid", "profile", "offline_access")]
        audience = resource_scopes[0].rsplit("/", 1)[0] if resource_scopes and "/" in resource_scopes[0] else client_id
        # A v2.0 access token names the resource app by its client id, not its App ID URI.
        audience = next((cid for cid, c in STATE.clients.items() if c.get("app_id_uri") == audience), audience)
        claims = {"aud": audience, "iss": f"{self.base_url()}/{TENANT_ID}/v2.0", "iat": now, "nbf": now, "exp": now + expires_in,
                  "azp": client_id, "tid": TENANT_ID, "jti": secrets.token_hex(8), "ver": "2.0",
                  "scp": " ".join(s.rsplit("/", 1)[-1] for s in resource_scopes)}
        if user:
            claims.update({"oid": USERS[user]["oid"], "sub": USERS[user]["oid"], "preferred_username": USERS[user]["username"]})
        if acrs:
            claims["acrs"] = list(acrs)
        body = {"token_type": "Bearer", "access_token": make_jwt(claims), "expires_in": expires_in,
                "ext_expires_in": expires_in, "scope": " ".join(resource_scopes) or " ".join(scopes)}
        if STATE.config.get("refresh_in"):
            body["refresh_in"] = STATE.config["refresh_in"]
        return body

    def user_tokens(self, client_id, user, scopes, nonce, grant, auth_time=None, acrs=None):
        body = self.access_token(client_id, user, scopes, acrs)
        now = int(time.time())
        id_claims = {"aud": client_id, "iss": f"{self.base_url()}/{TENANT_ID}/v2.0", "iat": now, "nbf": now,
                     "exp": now + 3600, "name": user.title(), "oid": USERS[user]["oid"],
                     "preferred_username": USERS[user]["username"], "sub": USERS[user]["oid"], "tid": TENANT_ID,
                     "ver": "2.0"}
        if nonce:
            id_claims["nonce"] = nonce
        if auth_time is not None:
            id_claims["auth_time"] = auth_time
        adfs = self.path.startswith("/adfs/")
        if adfs:
            # AD FS: a upn instead of preferred_username, no tenant, and no client_info.
            id_claims["upn"] = id_claims.pop("preferred_username")
            id_claims["iss"] = f"{self.base_url()}/adfs"
            del id_claims["tid"]
        refresh = "rt-" + secrets.token_urlsafe(32)
        foci = STATE.config.get("foci")
        with STATE.lock:
            STATE.refresh_tokens[refresh] = {"client_id": client_id, "user": user, "foci": foci, "acrs": acrs}
        body.update({"id_token": make_jwt(id_claims), "refresh_token": refresh})
        self.note(status=200, issued_rt=fingerprint(refresh))
        if not adfs:
            body["client_info"] = self.client_info(user)
        if foci:
            body["foci"] = foci
        posted = getattr(self, "posted", {})
        if posted.get("token_type") == "ssh-cert":
            # An SSH certificate for the public key in req_cnf, as Entra issues one.
            if not posted.get("req_cnf"):
                return self.oauth_error("invalid_request", "an ssh-cert token needs req_cnf, the public key to certify")
            body["token_type"] = "ssh-cert"
            body["access_token"] = "ssh-rsa-cert-v01@openssh.com " + b64url(hashlib.sha256(posted["req_cnf"].encode()).digest()) + "-" + secrets.token_hex(8)
        return self.send_json(200, body)

    # -- control -------------------------------------------------------------------------

    def control(self, what):
        length = int(self.headers.get("Content-Length") or 0)
        request = json.loads(self.rfile.read(length) or b"{}")
        with STATE.lock:
            if what == "client":
                STATE.clients[request["client_id"]] = {"secret": request.get("secret"),
                                                       "certificate": request.get("certificate_pem"),
                                                       "issuer_ca": request.get("issuer_ca_pem"), "subject": request.get("subject"),
                                                       "app_id_uri": request.get("app_id_uri")}
            elif what == "fail":
                STATE.faults.append(request)
            elif what == "device":
                for record in STATE.devices.values():
                    if record["user_code"] == request["user_code"]:
                        record["approved_user"] = request.get("user", "ann")
                        if request.get("expire"):
                            record["expires"] = 0
            elif what == "revoke":
                STATE.refresh_tokens.pop(request.get("refresh_token"), None)
                if request.get("all"):
                    STATE.refresh_tokens.clear()
            elif what == "config":
                STATE.config.update(request)
            elif what == "rotate_key":
                SIGNING_KEYS.rotate()
            elif what == "reset":
                STATE.requests.clear()
                STATE.faults.clear()
            elif what == "clear":
                STATE.faults.clear()
            else:
                return self.send_json(404, {"error": "unknown control"})
        self.send_json(200, {"ok": True})


def main():
    # A backlog for many clients connecting at once (benchmarks), not the default 5.
    ThreadingHTTPServer.request_queue_size = 256
    servers = [ThreadingHTTPServer(("127.0.0.1", 0), Handler)]
    print(f"PORT {servers[0].server_address[1]}", flush=True)
    if len(sys.argv) == 4 and sys.argv[1] == "--tls":
        # The same server (one state) also answers over TLS on a second port, for
        # clients that insist on https.
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(sys.argv[2], sys.argv[3])
        secure = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        secure.socket = context.wrap_socket(secure.socket, server_side=True)
        servers.append(secure)
        print(f"TLS_PORT {secure.server_address[1]}", flush=True)
    for server in servers:
        server.daemon_threads = True
    for server in servers[1:]:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        servers[0].serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
