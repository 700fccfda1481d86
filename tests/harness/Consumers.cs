// The APIM behaviours consumers' product policies rely on, as the harness
// models them (assumptions 21 to 28 in the header of PolicyHarness.cs, each
// with the document it rests on): subscriptions and products in the
// context, JWTs, validate-azure-ad-token, rate-limit-by-key,
// llm-token-limit, llm-emit-token-metric and emit-metric.
using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text;
using System.Xml.Linq;
using Newtonsoft.Json.Linq;

namespace OailbHarness
{
    /// context.Subscription (expressions, ISubscription).
    public class Subscription
    {
        public string Id;
        public string Name;
        public string Key;
    }

    /// context.Product (expressions, IProduct).
    public class Product
    {
        public string Id;
        public string Name;
    }

    /// Claims of a JWT: several values per name, joined with commas.
    public class Claims : ReadOnlyMap<string[]>
    {
        public Claims() : base(StringComparer.Ordinal) { }

        public string GetValueOrDefault(string name, string defaultValue)
        {
            string[] v;
            return TryGetValue(name, out v) && v.Length > 0 ? string.Join(",", v) : defaultValue;
        }

        public string GetValueOrDefault(string name) { return GetValueOrDefault(name, null); }

        public void Put(string name, string[] values) { Set(name, values); }
    }

    /// The Jwt of the expressions (expressions, "Jwt"): parsed, not validated.
    public class Jwt
    {
        public Claims Claims = new Claims();
        public IEnumerable<string> Audiences = new string[0];
        public DateTime? ExpirationTime;
        public string Issuer;
        public string Subject;
        /// The third part as sent (the harness's stand-in for a signature).
        public string Signature = "";

        static byte[] FromBase64Url(string s)
        {
            s = s.Replace('-', '+').Replace('_', '/');
            switch (s.Length % 4) { case 2: s += "=="; break; case 3: s += "="; break; }
            return Convert.FromBase64String(s);
        }

        public static string ToBase64Url(string s)
        {
            return Convert.ToBase64String(Encoding.UTF8.GetBytes(s)).TrimEnd('=').Replace('+', '-').Replace('/', '_');
        }

        /// `header.payload.signature`, base64url JSON parts (RFC 7519).
        public static Jwt Parse(string token)
        {
            var parts = (token ?? "").Split('.');
            if (parts.Length != 3) { throw new FormatException("a JWT has three parts"); }
            var payload = JObject.Parse(Encoding.UTF8.GetString(FromBase64Url(parts[1])));
            var jwt = new Jwt { Signature = parts[2] };
            foreach (var p in payload.Properties())
            {
                string[] values = p.Value.Type == JTokenType.Array
                    ? p.Value.Select(v => Convert.ToString(((JValue)v).Value, CultureInfo.InvariantCulture)).ToArray()
                    : new[] { Convert.ToString(((JValue)p.Value).Value, CultureInfo.InvariantCulture) };
                jwt.Claims.Put(p.Name, values);
            }
            jwt.Audiences = jwt.Claims.ContainsKey("aud") ? jwt.Claims["aud"] : new string[0];
            jwt.Issuer = jwt.Claims.GetValueOrDefault("iss");
            jwt.Subject = jwt.Claims.GetValueOrDefault("sub");
            long exp;
            if (long.TryParse(jwt.Claims.GetValueOrDefault("exp", ""), NumberStyles.Integer, CultureInfo.InvariantCulture, out exp))
            {
                jwt.ExpirationTime = new DateTime(1970, 1, 1, 0, 0, 0, DateTimeKind.Utc).AddSeconds(exp);
            }
            return jwt;
        }

        /// The signature Entra ID gives a token of tenant `tid` in the
        /// harness (assumption 23): tests sign with it, forgeries lack it.
        public static string HarnessSignature(string tid)
        {
            return ToBase64Url("entra-signed:" + (tid ?? "").ToLowerInvariant());
        }
    }

    /// AsJwt / TryParseJwt on strings (expressions, "string extensions").
    public static class JwtExtensions
    {
        public static Jwt AsJwt(this string input)
        {
            try { return Jwt.Parse(input); } catch (Exception) { return null; }
        }

        public static bool TryParseJwt(this string input, out Jwt result)
        {
            result = input.AsJwt();
            return result != null;
        }
    }

    /// A policy that refuses the request: an error with LastError and the
    /// response it leaves for on-error (assumptions 24 to 26).
    public class PolicyRefusal : Exception
    {
        public readonly string PolicySource;
        public readonly string Reason;
        public readonly Response Response;

        public PolicyRefusal(string source, string reason, string message, int status, string statusReason) : base(message)
        {
            PolicySource = source;
            Reason = reason;
            Response = new Response { StatusCode = status, StatusReason = statusReason };
            Response.Body.Text = new JObject(new JProperty("statusCode", status), new JProperty("message", message)).ToString(Newtonsoft.Json.Formatting.None);
            Response.Headers.Set("Content-Type", new[] { "application/json" });
        }
    }

    /// One counter of llm-token-limit (assumption 25).
    public class TokenCounter
    {
        public long MinuteStart = long.MinValue;
        public long MinuteUsed;
        public long Period = long.MinValue;
        public long PeriodUsed;
    }

    /// What the gateway keeps for the limit policies: counters per
    /// counter-key, for every scope at once (reference: "a single counter is
    /// used for all scopes at which the policy is configured").
    public class LimitCounters
    {
        public readonly Dictionary<string, TokenCounter> Tokens = new Dictionary<string, TokenCounter>(StringComparer.Ordinal);
        public readonly Dictionary<string, List<long>> Calls = new Dictionary<string, List<long>>(StringComparer.Ordinal);
    }

    /// Tokens taken by an admitted request, settled when its answer is known.
    public class TokenReservation
    {
        public string Key;
        public long Estimate;
        public long Minute;
        public long Period;
    }

    public static class TokenPeriods
    {
        static readonly DateTime Epoch = new DateTime(1970, 1, 1, 0, 0, 0, DateTimeKind.Utc);

        /// The number of the calendar period (UTC) holding `ms`, and the
        /// time its successor starts (assumption 25: fixed windows on
        /// calendar boundaries; weeks start on Monday).
        public static long Of(string period, long ms, out long nextStartMs)
        {
            var t = Epoch.AddMilliseconds(ms);
            DateTime start, next;
            switch (period)
            {
                case "Hourly": start = new DateTime(t.Year, t.Month, t.Day, t.Hour, 0, 0, DateTimeKind.Utc); next = start.AddHours(1); break;
                case "Daily": start = t.Date; next = start.AddDays(1); break;
                case "Weekly":
                    start = t.Date.AddDays(-(((int)t.DayOfWeek + 6) % 7));
                    next = start.AddDays(7);
                    break;
                case "Monthly": start = new DateTime(t.Year, t.Month, 1, 0, 0, 0, DateTimeKind.Utc); next = start.AddMonths(1); break;
                case "Yearly": start = new DateTime(t.Year, 1, 1, 0, 0, 0, DateTimeKind.Utc); next = start.AddYears(1); break;
                default: throw new NotSupportedException("token-quota-period " + period);
            }
            nextStartMs = (long)(next - Epoch).TotalMilliseconds;
            return (long)(start - Epoch).TotalMilliseconds;
        }
    }

    /// The prompt estimate of llm-token-limit (assumption 25): 4 characters
    /// a token, rounded up, over the prompt text of a chat or completion body.
    public static class PromptEstimate
    {
        public static long Of(string body)
        {
            long chars = 0;
            JObject o;
            try { o = JObject.Parse(body); } catch (Exception) { return 0; }
            var messages = o["messages"] as JArray;
            if (messages != null)
            {
                foreach (var m in messages)
                {
                    var c = m["content"];
                    if (c == null) { continue; }
                    if (c.Type == JTokenType.String) { chars += ((string)c).Length; }
                    else if (c.Type == JTokenType.Array) { foreach (var part in c) { var text = part["text"]; if (text != null && text.Type == JTokenType.String) { chars += ((string)text).Length; } } }
                }
            }
            foreach (var k in new[] { "prompt", "input" })
            {
                var f = o[k];
                if (f != null && f.Type == JTokenType.String) { chars += ((string)f).Length; }
            }
            return (chars + 3) / 4;
        }

        /// usage.total_tokens of an answer, when it reports one.
        public static long? Used(Response r)
        {
            try
            {
                var total = JObject.Parse(r.Body.Text).SelectToken("usage.total_tokens");
                return total == null ? (long?)null : (long)total;
            }
            catch (Exception) { return null; }
        }

        public static long? UsedPart(Response r, string part)
        {
            try
            {
                var t = JObject.Parse(r.Body.Text).SelectToken("usage." + part);
                return t == null ? (long?)null : (long)t;
            }
            catch (Exception) { return null; }
        }
    }
}

namespace OailbHarness
{
    /// The consumer policies of one request (assumptions 23 to 28).
    public partial class Pipeline
    {
        static long Ceil(long ms) { return Math.Max(1, (ms + 999) / 1000); }

        long? LongAttr(XElement e, string name)
        {
            string v = Attr(e, name);
            return v == null ? (long?)null : long.Parse(v, CultureInfo.InvariantCulture);
        }

        /// A refusal with Retry-After, the retry variable set (an int).
        PolicyRefusal Refuse(XElement e, string source, string reason, string message, int status, string statusReason, long retrySeconds)
        {
            var r = new PolicyRefusal(source, reason, message, status, statusReason);
            r.Response.Headers.Set(Attr(e, "retry-after-header-name", "Retry-After"), new[] { retrySeconds.ToString(CultureInfo.InvariantCulture) });
            string variable = Attr(e, "retry-after-variable-name");
            if (variable != null) { ctx.Variables.Set(variable, (int)retrySeconds); }
            return r;
        }

        void Header(XElement e, string attribute, long value)
        {
            string name = Attr(e, attribute);
            if (name != null) { limitHeaders.Add(new KeyValuePair<string, string>(name, value.ToString(CultureInfo.InvariantCulture))); }
        }

        /// Assumption 24.
        void RateLimit(XElement e)
        {
            int calls = int.Parse(Attr(e, "calls"), CultureInfo.InvariantCulture);
            long window = long.Parse(Attr(e, "renewal-period"), CultureInfo.InvariantCulture) * 1000;
            string key = Attr(e, "counter-key");
            step("rate-limit-by-key " + key);
            long t = now();
            long remaining;
            lock (gw.Limits)
            {
                List<long> list;
                if (!gw.Limits.Calls.TryGetValue(key, out list)) { list = gw.Limits.Calls[key] = new List<long>(); }
                list.RemoveAll(x => x <= t - window);
                if (list.Count >= calls)
                {
                    long wait = Ceil(list[0] + window - t);
                    Header(e, "remaining-calls-header-name", 0);
                    throw Refuse(e, "rate-limit-by-key", "RateLimitExceeded", "Rate limit is exceeded. Try again in " + wait + " seconds.", 429, "Too Many Requests", wait);
                }
                list.Add(t);
                remaining = calls - list.Count;
            }
            Header(e, "remaining-calls-header-name", remaining);
        }

        /// Assumption 25.
        void TokenLimit(XElement e)
        {
            string key = Attr(e, "counter-key");
            long? rate = LongAttr(e, "tokens-per-minute");
            long? quota = LongAttr(e, "token-quota");
            string period = Attr(e, "token-quota-period", "Indefinite");
            if (rate == null && quota == null) { throw new InvalidOperationException("llm-token-limit needs tokens-per-minute or token-quota"); }
            long estimate = bool.Parse(Attr(e, "estimate-prompt-tokens")) ? PromptEstimate.Of(ctx.Request.Body.Text) : 0;
            step("llm-token-limit " + key);
            long t = now();
            lock (gw.Limits)
            {
                TokenCounter c;
                if (!gw.Limits.Tokens.TryGetValue(key, out c)) { c = gw.Limits.Tokens[key] = new TokenCounter(); }
                if (c.MinuteStart == long.MinValue || t >= c.MinuteStart + 60000) { c.MinuteStart = t; c.MinuteUsed = 0; }
                long next = 0;
                if (quota != null)
                {
                    long p = TokenPeriods.Of(period, t, out next);
                    if (c.Period != p) { c.Period = p; c.PeriodUsed = 0; }
                    if (c.PeriodUsed >= quota.Value || c.PeriodUsed + estimate > quota.Value)
                    {
                        Header(e, "remaining-quota-tokens-header-name", Math.Max(0, quota.Value - c.PeriodUsed));
                        throw Refuse(e, "llm-token-limit", "TokenQuotaExceeded", "Token quota is exceeded.", 403, "Forbidden", Ceil(next - t));
                    }
                }
                if (rate != null && (c.MinuteUsed >= rate.Value || c.MinuteUsed + estimate > rate.Value))
                {
                    Header(e, "remaining-tokens-header-name", Math.Max(0, rate.Value - c.MinuteUsed));
                    long wait = Ceil(c.MinuteStart + 60000 - t);
                    throw Refuse(e, "llm-token-limit", "TokenLimitExceeded", "Token limit is exceeded. Try again in " + wait + " seconds.", 429, "Too Many Requests", wait);
                }
                c.MinuteUsed += estimate;
                c.PeriodUsed += estimate;
                reservations.Add(new TokenReservation { Key = key, Estimate = estimate, Minute = c.MinuteStart, Period = c.Period });
                if (rate != null) { Header(e, "remaining-tokens-header-name", rate.Value - c.MinuteUsed); }
                if (quota != null) { Header(e, "remaining-quota-tokens-header-name", quota.Value - c.PeriodUsed); }
            }
        }

        /// Assumption 23.
        void ValidateEntra(XElement e)
        {
            int status = int.Parse(Attr(e, "failed-validation-httpcode", "401"), CultureInfo.InvariantCulture);
            string custom = Attr(e, "failed-validation-error-message");
            Func<string, string, PolicyRefusal> fail = (reason, message) =>
                new PolicyRefusal("validate-azure-ad-token", reason, custom ?? message, status, "Unauthorized");
            string raw = ctx.Request.Headers.GetValueOrDefault(Attr(e, "header-name", "Authorization"), "");
            if (raw == "") { throw fail("TokenNotPresent", "JWT not present."); }
            if (!raw.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase)) { throw fail("JwtInvalid", "The token is not a Bearer token."); }
            Jwt jwt = raw.Substring(7).Trim().AsJwt();
            if (jwt == null) { throw fail("JwtInvalid", "The token is not a JWT."); }
            string tid = jwt.Claims.GetValueOrDefault("tid", "");
            if (jwt.Signature != Jwt.HarnessSignature(tid)) { throw fail("TokenSignatureInvalid", "Signature validation failed."); }
            if (!tid.Equals(Attr(e, "tenant-id"), StringComparison.OrdinalIgnoreCase)) { throw fail("TokenIssuerNotAllowed", "Invalid issuer."); }
            if (jwt.ExpirationTime != null && jwt.ExpirationTime.Value <= ctx.Timestamp) { throw fail("TokenExpired", "Token expired."); }
            string app = jwt.Claims.GetValueOrDefault("azp", jwt.Claims.GetValueOrDefault("appid", ""));
            var clients = e.Elements("client-application-ids").Elements("application-id").Select(Text).ToList();
            if (!clients.Any(c => c.Equals(app, StringComparison.OrdinalIgnoreCase))) { throw fail("TokenClaimValueNotAllowed", "Client application " + app + " is not allowed."); }
            var audiences = e.Elements("audiences").Elements("audience").Select(Text).ToList();
            if (audiences.Count > 0 && !jwt.Audiences.Any(a => audiences.Contains(a))) { throw fail("TokenAudienceNotAllowed", "Invalid audience."); }
            foreach (var claim in e.Elements("required-claims").Elements("claim"))
            {
                string name = Attr(claim, "name");
                string separator = Attr(claim, "separator");
                string[] have;
                if (!jwt.Claims.TryGetValue(name, out have)) { throw fail("TokenClaimNotFound", "JWT token is missing the following claims: " + name); }
                if (separator != null) { have = have.SelectMany(v => v.Split(new[] { separator }, StringSplitOptions.None)).ToArray(); }
                var want = claim.Elements("value").Select(Text).ToList();
                bool ok = Attr(claim, "match", "all") == "any" ? want.Any(w => have.Contains(w)) : want.All(w => have.Contains(w));
                if (!ok) { throw fail("TokenClaimValueNotAllowed", "Claim " + name + " value is not allowed."); }
            }
            string output = Attr(e, "output-token-variable-name");
            if (output != null) { ctx.Variables.Set(output, jwt); }
        }

        /// One metric of `e` (emit-metric or a token metric) with its dimensions evaluated now.
        JObject Metric(XElement e, string name, object value)
        {
            var dims = new JObject();
            foreach (var d in e.Elements("dimension"))
            {
                dims[Attr(d, "name")] = Attr(d, "value") ?? "(default dimension)";
            }
            return new JObject(
                new JProperty("namespace", Attr(e, "namespace", "API Management")),
                new JProperty("name", name),
                new JProperty("value", Convert.ToDouble(value, CultureInfo.InvariantCulture)),
                new JProperty("dimensions", dims));
        }

        /// After the response: settle the token reservations, emit the token
        /// metrics, add the limits' headers (assumptions 25, 27).
        void Finish(Response final, bool fromBackend)
        {
            bool served = fromBackend && final.StatusCode >= 200 && final.StatusCode < 300;
            long? used = served ? PromptEstimate.Used(final) : null;
            lock (gw.Limits)
            {
                foreach (var r in reservations)
                {
                    long delta = (used ?? (served ? r.Estimate : 0)) - r.Estimate;
                    var c = gw.Limits.Tokens[r.Key];
                    if (c.MinuteStart == r.Minute) { c.MinuteUsed = Math.Max(0, c.MinuteUsed + delta); }
                    if (c.Period == r.Period) { c.PeriodUsed = Math.Max(0, c.PeriodUsed + delta); }
                }
            }
            if (served && used != null)
            {
                foreach (var e in tokenMetrics)
                {
                    Metrics.Add(Metric(e, "Prompt Tokens", PromptEstimate.UsedPart(final, "prompt_tokens") ?? 0));
                    Metrics.Add(Metric(e, "Completion Tokens", PromptEstimate.UsedPart(final, "completion_tokens") ?? 0));
                    Metrics.Add(Metric(e, "Total Tokens", used.Value));
                }
            }
            foreach (var h in limitHeaders)
            {
                if (!final.Headers.ContainsKey(h.Key)) { final.Headers.Set(h.Key, new[] { h.Value }); }
            }
        }
    }
}
