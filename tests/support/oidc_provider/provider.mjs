// A real OpenID provider for labgate's sign-in tests: panva's oidc-provider, configured
// from files in a state directory that the tests write (tests/support/oidc.py):
//
//   config.json    {"port", "clients": [...]}: read at start
//   keys.json      {"keys": [private JWKs]}: the signing keys, the first one signs; read
//                  at start (a test rotates keys by restarting with a new first key)
//   accounts.json  [{"sub", "login", "password", "preferred_username", "name", "email",
//                  "email_verified", "groups", "eduPersonEntitlement", "disabled"}]:
//                  read on every use, so a test may change or disable an account
//   control.json   read on every use: {"code_ttl_seconds": N} (how long a code lives),
//                  {"id_token_audience": "x"} (the token endpoint answers ID tokens,
//                  signed with the real key, for another audience), {"id_token_sub": v}
//                  (... whose sub is v instead; null: they have none)
//
// Its sign-in page is a small form of its own (login, password, Sign in, Cancel):
// consent is given at once, as a facility's own provider does for its own services.
// It listens on 127.0.0.1 only and prints "listening <issuer>" when ready.

import { readFileSync } from "node:fs";
import { createServer } from "node:http";
import { join } from "node:path";

import { importJWK, SignJWT, decodeJwt, decodeProtectedHeader } from "jose";
import Provider from "oidc-provider";

const stateDir = process.argv[2];
if (!stateDir) {
  console.error("usage: node provider.mjs STATE_DIR");
  process.exit(2);
}

const readJson = (name, fallback) => {
  try {
    return JSON.parse(readFileSync(join(stateDir, name), "utf8"));
  } catch (error) {
    if (fallback !== undefined && error.code === "ENOENT") return fallback;
    throw error;
  }
};

const config = readJson("config.json");
const keys = readJson("keys.json");
const issuer = `http://127.0.0.1:${config.port}`;
const control = () => readJson("control.json", {});
const accounts = () => readJson("accounts.json", []);

const CLAIMS = ["preferred_username", "name", "email", "email_verified", "groups", "eduPersonEntitlement"];

async function findAccount(_ctx, sub) {
  const account = accounts().find((one) => one.sub === sub);
  if (!account || account.disabled) return undefined;
  return {
    accountId: sub,
    async claims() {
      const claims = { sub };
      for (const name of CLAIMS) {
        if (account[name] !== undefined) claims[name] = account[name];
      }
      return claims;
    },
  };
}

const provider = new Provider(issuer, {
  clients: config.clients,
  jwks: keys,
  findAccount,
  cookies: { keys: ["labgate test provider cookie key"] },
  claims: {
    openid: ["sub"],
    profile: ["name", "preferred_username"],
    email: ["email", "email_verified"],
    groups: ["groups"],
    eduperson_entitlement: ["eduPersonEntitlement"],
  },
  scopes: ["openid", "offline_access", "profile", "email", "groups", "eduperson_entitlement"],
  features: {
    devInteractions: { enabled: false },
    rpInitiatedLogout: { enabled: true },
  },
  pkce: { required: () => true },
  interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
  ttl: {
    AccessToken: 600,
    AuthorizationCode: () => control().code_ttl_seconds ?? 60,
    IdToken: 600,
    Grant: 3600,
    Interaction: 600,
    RefreshToken: 3600,
    Session: 3600,
  },
  issueRefreshToken: async (_ctx, client, code) =>
    client.grantTypeAllowed("refresh_token") && code.scopes.has("offline_access"),
  rotateRefreshToken: () => Boolean(control().rotate_refresh_tokens),
});

// Each request in the log, so that a test can tell what labgate asked (its keys again).
provider.use(async (ctx, next) => {
  console.log(`request ${ctx.method} ${ctx.path}`);
  await next();
});

// The test switches: ID tokens from the token endpoint for another audience, or with
// another sub or none, signed with the provider's real key (so only that is wrong).
provider.use(async (ctx, next) => {
  await next();
  const { id_token_audience: audience, id_token_sub: sub } = control();
  const changesSub = sub !== undefined;
  if ((!audience && !changesSub) || ctx.path !== "/token" || !ctx.body?.id_token) return;
  const { kid, alg } = decodeProtectedHeader(ctx.body.id_token);
  const claims = decodeJwt(ctx.body.id_token);
  if (audience) claims.aud = audience;
  if (sub === null) delete claims.sub;
  else if (changesSub) claims.sub = sub;
  const jwk = keys.keys.find((key) => key.kid === kid);
  const key = await importJWK(jwk, alg);
  ctx.body = {
    ...ctx.body,
    id_token: await new SignJWT(claims).setProtectedHeader({ alg, kid }).sign(key),
  };
});

const escape = (text) =>
  String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function page(uid, clientId, error) {
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>Test provider: sign in</title>
<style>body{font-family:sans-serif;max-width:24em;margin:4em auto}label,input,button{display:block;margin:.5em 0}</style>
</head><body>
<h1>Test identity provider</h1>
<p>Sign in to continue to <strong>${escape(clientId)}</strong>.</p>
${error ? `<p id="error" role="alert">${escape(error)}</p>` : ""}
<form method="post" action="/interaction/${escape(uid)}/login">
<label>Login <input id="login" name="login" autocomplete="username" autofocus></label>
<label>Password <input id="password" name="password" type="password"></label>
<button id="submit" type="submit">Sign in</button>
</form>
<form method="post" action="/interaction/${escape(uid)}/cancel">
<button id="cancel" type="submit">Cancel</button>
</form>
</body></html>`;
}

async function formOf(req) {
  let body = "";
  for await (const chunk of req) {
    body += chunk;
    if (body.length > 10000) throw new Error("form too large");
  }
  return new URLSearchParams(body);
}

// Consent given at once: every scope and claim the client asked for.
async function grantFor(details, accountId) {
  const { params } = details;
  const grant = details.grantId
    ? await provider.Grant.find(details.grantId)
    : new provider.Grant({ accountId, clientId: params.client_id });
  grant.addOIDCScope(params.scope);
  const missingClaims = details.prompt.details.missingOIDCClaims;
  if (missingClaims) grant.addOIDCClaims(missingClaims);
  return grant.save();
}

async function interaction(req, res, uid, action) {
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) throw new Error("interaction mismatch");
  const clientId = details.params.client_id;
  if (details.prompt.name === "consent") {
    const accountId = details.session.accountId;
    const grantId = await grantFor(details, accountId);
    return provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
  }
  if (action === "cancel" && req.method === "POST") {
    return provider.interactionFinished(req, res, {
      error: "access_denied",
      error_description: "The person cancelled the sign-in at the test provider.",
    }, { mergeWithLastSubmission: false });
  }
  if (action === "login" && req.method === "POST") {
    const form = await formOf(req);
    const account = accounts().find(
      (one) => one.login === form.get("login") && one.password === form.get("password"),
    );
    if (!account) {
      res.writeHead(200, { "Content-Type": "text/html; charset=utf-8" });
      return res.end(page(uid, clientId, "Wrong login or password."));
    }
    const grantId = await grantFor(details, account.sub);
    return provider.interactionFinished(req, res, {
      login: { accountId: account.sub },
      consent: { grantId },
    }, { mergeWithLastSubmission: false });
  }
  res.writeHead(200, { "Content-Type": "text/html; charset=utf-8" });
  return res.end(page(uid, clientId, ""));
}

const handle = provider.callback();
const INTERACTION = /^\/interaction\/([A-Za-z0-9_-]+)(?:\/(login|cancel))?$/;

const server = createServer(async (req, res) => {
  const found = INTERACTION.exec(new URL(req.url, issuer).pathname);
  if (!found) return handle(req, res);
  try {
    await interaction(req, res, found[1], found[2]);
  } catch (error) {
    console.error("interaction failed:", error);
    res.writeHead(400, { "Content-Type": "text/plain" });
    res.end(`The sign-in at the test provider failed: ${error.message}`);
  }
});

server.listen(config.port, "127.0.0.1", () => {
  console.log(`listening ${issuer}`);
});

const stop = () => process.exit(0);
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
