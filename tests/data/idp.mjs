// A real OpenID Provider for Rapport's tests: oidc-provider (the certified
// Node.js implementation) with its development login and consent pages.
// Configuration is one JSON argument:
// {"port", "clients": [{client_id, client_secret, redirect_uris}], "users": {"login": {claims}}}.
// Any password signs a known login in; an unknown login is refused.
import Provider from "oidc-provider";

const config = JSON.parse(process.argv[2]);
const issuer = `http://127.0.0.1:${config.port}`;
const users = config.users;

const provider = new Provider(issuer, {
  clients: config.clients,
  pkce: { required: () => true },
  features: { devInteractions: { enabled: true } },
  claims: {
    openid: ["sub"],
    email: ["email", "email_verified"],
    profile: ["name", "rapport_role", "rapport_teams"],
  },
  async findAccount(ctx, id) {
    const claims = users[id];
    if (!claims) return undefined;
    return { accountId: id, async claims() { return { sub: id, ...claims }; } };
  },
  conformIdTokenClaims: false,
  cookies: { keys: ["rapport-test-idp"] },
});
provider.proxy = false;
provider.listen(config.port, "127.0.0.1", () => {
  console.log(`listening ${issuer}`);
});
