import t from "tap";
import { ALERT_WEBHOOK_VARIABLE, observeRequest, WEBSITE_PASSWORD_VARIABLE } from "../src/cli/observe-options.ts";
import { redactUrl } from "../src/observe/alerts.ts";

const env = { [WEBSITE_PASSWORD_VARIABLE]: "pw" };

t.test("a website on all interfaces without TLS is refused unless --insecure-http", async (t) => {
  const flags = { website: true, websiteHost: "0.0.0.0", websiteUser: "ops" };
  t.throws(() => observeRequest(flags, env, "/"), /--website-host 0\.0\.0\.0 without --website-tls-cert.*--insecure-http/);
  t.match(observeRequest({ ...flags, insecureHttp: true }, env, "/").website, { host: "0.0.0.0", auth: { username: "ops" } });
  t.match(observeRequest({ ...flags, websiteTlsCert: "c.pem", websiteTlsKey: "k.pem" }, env, "/").website, { tls: { certPath: "c.pem" } });
  t.throws(() => observeRequest({ website: true, insecureHttp: true }, env, "/"), /--insecure-http only applies with a --website-host other than loopback/);
});

t.test("the alert webhook comes from the environment, and records show it redacted", async (t) => {
  const secret = "https://hooks.example.com/services/T0/B0/s3cr3t-token?key=abc";
  t.throws(() => observeRequest({ prometheus: true, alertWebhook: true }, {}, "/"), new RegExp(`--alert-webhook reads the URL from ${ALERT_WEBHOOK_VARIABLE}`));
  t.throws(() => observeRequest({ prometheus: true, alertWebhook: true }, { [ALERT_WEBHOOK_VARIABLE]: "ftp://x/s3cr3t" }, "/"), /must be an http:\/\/ or https:\/\/ URL, got "ftp:\/\/x\/\(redacted\)"/);
  const request = observeRequest({ prometheus: true, alertWebhook: true }, { [ALERT_WEBHOOK_VARIABLE]: secret }, "/");
  t.equal(request.prometheus?.alertWebhook, secret);
  t.equal(redactUrl(secret), "https://hooks.example.com/(redacted)");
  t.equal(redactUrl("https://user:pass@h.example:8443/x"), "https://h.example:8443/(redacted)");
  t.equal(redactUrl("not a url s3cr3t"), "(redacted)");
});
