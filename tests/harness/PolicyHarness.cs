// Executes rendered APIM policies: it interprets the policy's control flow
// (sections, choose, retry, return-response, cache, forward-request,
// headers, URL rewriting, backend pools) and runs its C# expressions for
// real. `gen` writes every expression of the given policies as a method of
// one C# file, compiled (mcs) into a library; `run` (Scenarios.cs) plays the
// scenario table of tests/balancer_scenarios.rs against mocked backends;
// `serve` (Gateway.cs) is a live gateway with real forwards.
//
// What the harness assumes about APIM, and what each assumption rests on
// ("reference" = the Microsoft Learn page of that policy; "expressions" =
// "API Management policy expressions", context variable table):
//  1. set-variable: a literal value is stored as System.String; an
//     expression's value keeps its type and must be one of the allowed types
//     (reference, "Allowed types": the basic types and their nullable forms;
//     newer revisions add the Newtonsoft.Json.Linq types). Another type fails
//     the request as an expression error (how APIM fails: not documented).
//  2. context.Variables.GetValueOrDefault<T> casts the stored value to T and
//     throws when the type does not match (expressions: "This method throws
//     an exception if the specified type does not match").
//  3. context.Variables and the header collections are read-only
//     dictionaries (expressions: members "are all read-only",
//     IReadOnlyDictionary).
//  4. cache-lookup-value: a hit assigns the stored value object, of the type
//     it was stored with (not documented; assumed for the internal cache); a
//     miss assigns default-value, and without default-value leaves the
//     variable unset (the reference says both "null is assigned" and "the
//     variable is not set"; the rendered policy always gives default-value).
//  5. cache-store-value stores the value object itself (its type is kept:
//     not documented, the reference says "the value to be cached"; the same
//     types as set-variable are accepted) for `duration` seconds. Each lookup
//     and each store is atomic on its own and nothing makes a
//     lookup-then-store atomic: the reference offers no compare-and-set, and
//     the external cache is Redis GET/SET. The reference calls the store
//     asynchronous ("may not be immediately available"): the harness applies
//     it at once; the interleaving mode of Scenarios.cs runs other requests
//     between any two cache operations, not a request missing its own store.
//  6. The built-in cache is shared by all units of one region (reference:
//     "shared by all units in the same region"): `serve` with several
//     instances and separate caches models several regions or self-hosted
//     gateways; a shared cache models one region or an external cache.
//  7. retry runs its children once, then again while `condition` is true and
//     fewer than `count` retries were made (reference: "executes its child
//     policies once and then retries their execution until the retry
//     condition becomes false or retry count is exhausted"; count 1 to 50).
//     interval 0 with first-fast-retry: no wait.
//  8. A forward-request inside retry that gets no answer (refused, reset,
//     timed out) does not leave the loop: the condition is evaluated, and the
//     loop goes on when it is true (not documented; openai-apim-lb #25 shows
//     a trace with forward-request "timed out" followed by the retry
//     condition's evaluation, and #13/#29 the same failure). The other
//     reading (the failure ends the loop and runs on-error) is played by the
//     scenario "a forward failure that ends the retry loop runs on-error"
//     (`forward_failures: propagate`).
//  9. forward-request replaces context.Response with the backend's answer
//     (status, headers, body); no answer raises an error whose
//     LastError.Source is "forward-request" and Reason
//     BackendConnectionFailure, or Timeout after `timeout` seconds (default
//     300) without response headers (forward-request reference; error
//     handling reference, "Predefined errors": Source is given as
//     "multiple"). buffer-request-body must be true inside retry, so every
//     attempt resends the same body.
// 10. return-response ends the pipeline: outbound does not run (reference:
//     it "cancels pipeline execution").
// 11. An error (an expression that throws: ExpressionValueEvaluationFailure;
//     a forward without an answer outside retry) jumps to on-error with
//     context.LastError set (error handling reference). An error inside
//     on-error gives the client 500 (not documented). An expression that
//     throws is always reported: the policy must never do it.
// 12. context.Timestamp is the request's arrival, context.Elapsed the time
//     since (expressions). In scenarios time moves only while a backend
//     answers (the step's answer_after_ms, default 0); `serve` uses the
//     real clock.
// 13. Body.As<T>(preserveContent) reads the body as string, byte[], JObject,
//     JToken or JArray; without preserveContent it can be read only once
//     (expressions, IMessageBody).
// 14. Headers.GetValueOrDefault joins several values with commas
//     (expressions).
// 15. The backend URL is set-backend-service's base-url + the path that
//     rewrite-uri set (else the path below the API's path) + the query
//     string (copy-unmatched-params) (set-backend-service and rewrite-uri
//     references).
// 16. Named values ({{name}}) are replaced in the policy text before it runs
//     (named values reference); in scenarios they stay visible as nv(name).
// 17. A backend of type Pool (backends reference, "Load-balanced pool" and
//     "Circuit breaker"): the member is chosen among those whose breaker is
//     closed, in the lowest priority number that has one ("backends in
//     lower priority groups are used only when all backends in higher
//     priority groups are unavailable because circuit breaker rules are
//     tripped"), at weighted random by `weight` inside it. A member's
//     breaker opens when `count` answers with a status in statusCodeRanges
//     arrive within `interval` (a sliding window: not documented), for
//     tripDuration, or for the answer's Retry-After when acceptRetryAfter is
//     true. Breakers are per gateway instance ("different instances of the
//     gateway do not synchronize"). When every member's breaker is open the
//     gateway answers 503 without a backend call ("returns a 503 Service
//     Unavailable"); that 503 carries no Retry-After (not documented). An
//     attempt without an answer does not count toward a breaker (not
//     documented; errorReasons are not modelled). The attempt sent to a
//     member carries the member's credentials headers (backends reference,
//     `credentials.header`), set over the request's own.
// 18. `new Random()` in an expression is the harness's Random below (the
//     expressions are compiled in this namespace): scripted draws in
//     scenarios, System.Random in `serve`.
// 19. authentication-managed-identity yields the token
//     "mi-token(<resource>,<client-id or system>)".
// 20. Not modelled: subscription-key validation (a scenario names the
//     subscription and product a key would give), response streaming
//     (`serve` buffers bodies).
// Products and consumers' limits (Consumers.cs):
// 21. A product's policy is the scope around the API's: `<base />` in a
//     section of the API policy runs the same section of the product policy
//     (policies reference, "Scopes": global, workspace, product, API,
//     operation, each inserted where the inner scope has <base />). Only a
//     request made with a key of the product runs it (subscriptions
//     reference, "How API Management handles requests": product scope
//     for a product-scoped key, the open product's for a request without a
//     key; API-scoped and all-access keys get no product policy).
// 22. context.Subscription.Id is the subscription's id (its name in ARM),
//     context.Subscription.Name its display name; context.Product is the
//     product (expressions, ISubscription and IProduct). A request without
//     a key has no subscription (null).
// 23. validate-azure-ad-token (its reference): the token from header-name
//     (default Authorization, scheme Bearer); checks the signature, the
//     tenant (issuer), expiry, the client application (azp or appid) among
//     client-application-ids, one of the audiences if listed, and the
//     required claims (match all or any). Entra's signing keys are modelled
//     by Jwt.HarnessSignature of the tenant. A failure is an error
//     (Source validate-azure-ad-token; the reasons are validate-jwt's,
//     error handling reference, "Predefined errors for policies": not
//     documented for this policy) with failed-validation-httpcode (default
//     401) as the status on-error sees.
// 24. rate-limit-by-key (its reference): at most `calls` in a sliding
//     window of renewal-period seconds per counter-key; the call is counted
//     when it is let through; over the limit an error (Source
//     rate-limit-by-key, Reason RateLimitExceeded as for rate-limit in the
//     error handling reference) with status 429 and Retry-After (seconds
//     until the oldest call leaves the window), retry-after-variable-name
//     set (an int: not documented) and remaining-calls-header-name on the
//     response.
// 25. llm-token-limit (its reference): one counter per counter-key for all
//     scopes; tokens-per-minute over a fixed 60 s window from its first
//     request (window alignment: not documented); token-quota over a fixed
//     window of token-quota-period (reference: "fixed window"; calendar
//     boundaries in UTC, weeks from Monday: not documented). With
//     estimate-prompt-tokens the prompt is estimated before the backend is
//     called (4 characters a token: APIM's tokenizer is not documented) and
//     a request whose estimate does not fit is refused without a backend
//     call; the estimate is taken at once and replaced by the answer's
//     usage.total_tokens when it arrives (given back when no backend
//     answered: not documented). Quota first: over it 403 (reference), else
//     over the rate 429 (reference); both are errors (Source llm-token-limit:
//     not documented) with Retry-After (seconds to the window's end) and
//     retry-after-variable-name set (an int: not documented); remaining
//     tokens per minute and per period in their headers on the response.
// 26. An error of a policy in the product scope runs on-error as one
//     pipeline (the API's on-error, whose <base /> is the product's); the
//     response it left (status, Retry-After) is context.Response there
//     (error handling reference: "You can access the status code through
//     context.Response.StatusCode").
// 27. llm-emit-token-metric (its reference): placed in inbound, it emits
//     Prompt Tokens, Completion Tokens and Total Tokens from the answer's
//     usage once the answer arrives; its dimension values are evaluated
//     then, after the backend section (not documented). No backend answer,
//     no metric.
// 28. emit-metric (its reference): one value (default 1) with its
//     dimensions, evaluated where the policy stands.
using System;
using System.Collections;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Reflection;
using System.Text;
using System.Text.RegularExpressions;
using System.Xml.Linq;
using Newtonsoft.Json;
using Newtonsoft.Json.Linq;

namespace OailbHarness
{
    /// `new Random()` inside a policy expression: draws from the running
    /// request's source (assumption 18).
    public class Random
    {
        [ThreadStatic] public static Func<double> Source;

        public int Next(int max)
        {
            if (max <= 0) { throw new ArgumentOutOfRangeException("max"); }
            return Math.Min(max - 1, (int)(NextDouble() * max));
        }

        public double NextDouble()
        {
            return Source == null ? 0.0 : Source();
        }
    }

    /// A read-only dictionary for the expressions (assumption 3); the
    /// interpreter writes through Set and Remove.
    public class ReadOnlyMap<TValue> : IReadOnlyDictionary<string, TValue>
    {
        protected readonly Dictionary<string, TValue> map;

        public ReadOnlyMap(IEqualityComparer<string> comparer) { map = new Dictionary<string, TValue>(comparer); }

        public TValue this[string key] { get { return map[key]; } }
        public IEnumerable<string> Keys { get { return map.Keys; } }
        public IEnumerable<TValue> Values { get { return map.Values; } }
        public int Count { get { return map.Count; } }
        public bool ContainsKey(string key) { return map.ContainsKey(key); }
        public bool TryGetValue(string key, out TValue value) { return map.TryGetValue(key, out value); }
        public IEnumerator<KeyValuePair<string, TValue>> GetEnumerator() { return map.GetEnumerator(); }
        IEnumerator IEnumerable.GetEnumerator() { return map.GetEnumerator(); }

        internal void Set(string key, TValue value) { map[key] = value; }
        internal void Remove(string key) { map.Remove(key); }
    }

    public class Headers : ReadOnlyMap<string[]>
    {
        public Headers() : base(StringComparer.OrdinalIgnoreCase) { }

        /// Several values joined with commas (assumption 14).
        public string GetValueOrDefault(string name, string defaultValue)
        {
            string[] v;
            return TryGetValue(name, out v) && v.Length > 0 ? string.Join(",", v) : defaultValue;
        }

        public string GetValueOrDefault(string name) { return GetValueOrDefault(name, null); }
    }

    public class Variables : ReadOnlyMap<object>
    {
        public Variables() : base(StringComparer.Ordinal) { }

        /// A plain cast, which throws when the stored value is not a T (assumption 2).
        public T GetValueOrDefault<T>(string name, T defaultValue)
        {
            object v;
            return TryGetValue(name, out v) ? (T)v : defaultValue;
        }

        public T GetValueOrDefault<T>(string name)
        {
            return GetValueOrDefault<T>(name, default(T));
        }
    }

    /// Which values set-variable and cache-store-value accept (assumptions 1, 5).
    public static class AllowedTypes
    {
        static readonly HashSet<Type> Basic = new HashSet<Type>
        {
            typeof(bool), typeof(sbyte), typeof(sbyte[]), typeof(byte), typeof(byte[]), typeof(ushort), typeof(uint),
            typeof(ulong), typeof(short), typeof(int), typeof(long), typeof(decimal), typeof(float), typeof(double),
            typeof(Guid), typeof(string), typeof(char), typeof(DateTime), typeof(TimeSpan),
        };

        /// Null (a nullable's empty value) or one of the allowed types.
        public static void Check(object v, string where)
        {
            if (v == null || Basic.Contains(v.GetType()) || v is JToken) { return; }
            throw new InvalidCastException(where + ": a value of type " + v.GetType().FullName + " is not allowed");
        }
    }

    public class Url
    {
        public string Scheme = "https";
        public string Host = "";
        public string Path = "";
        public string QueryString = "";

        public static Url Parse(string text)
        {
            var u = new Url();
            var m = Regex.Match(text, "^(https?)://([^/?]+)([^?]*)(?:[?](.*))?$");
            if (!m.Success) { throw new FormatException("not an absolute URL: " + text); }
            u.Scheme = m.Groups[1].Value;
            u.Host = m.Groups[2].Value;
            u.Path = m.Groups[3].Value;
            u.QueryString = m.Groups[4].Value;
            return u;
        }

        public override string ToString()
        {
            return Scheme + "://" + Host + Path + (QueryString == "" ? "" : "?" + QueryString);
        }
    }

    /// A message body as APIM exposes it (assumption 13).
    public class MessageBody
    {
        public byte[] Bytes = new byte[0];
        bool consumed;

        public string Text
        {
            get { return Encoding.UTF8.GetString(Bytes); }
            set { Bytes = Encoding.UTF8.GetBytes(value ?? ""); }
        }

        public T As<T>(bool preserveContent = false)
        {
            if (consumed) { throw new InvalidOperationException("the body was read before without preserveContent"); }
            if (!preserveContent) { consumed = true; }
            object v;
            if (typeof(T) == typeof(string)) { v = Text; }
            else if (typeof(T) == typeof(JObject)) { v = JObject.Parse(Text); }
            else if (typeof(T) == typeof(JToken)) { v = JToken.Parse(Text); }
            else if (typeof(T) == typeof(JArray)) { v = JArray.Parse(Text); }
            else if (typeof(T) == typeof(byte[])) { v = (byte[])Bytes.Clone(); }
            else { throw new NotSupportedException("Body.As<" + typeof(T).Name + ">"); }
            return (T)v;
        }
    }

    public class Request
    {
        public string Method = "POST";
        public Url OriginalUrl;
        public Url Url;
        public Headers Headers = new Headers();
        public MessageBody Body = new MessageBody();
    }

    public class Response
    {
        public int StatusCode;
        public string StatusReason = "";
        public Headers Headers = new Headers();
        public MessageBody Body = new MessageBody();
    }

    public class Api
    {
        public string Id;
        public string Name;
        public string Path;
    }

    public class LastError
    {
        public string Source;
        public string Reason;
        public string Message;
    }

    /// The gateway's deployment: its region (APIM: e.g. "West US").
    public class Deployment
    {
        public string Region = "";
    }

    public class Ctx
    {
        public Api Api;
        public Deployment Deployment = new Deployment();
        public Request Request;
        public Response Response;
        public Variables Variables = new Variables();
        /// Arrival of the request (assumption 12).
        public DateTime Timestamp;
        /// Time since Timestamp: fixed in scenarios, the real clock in `serve`.
        public Func<TimeSpan> ElapsedSource;
        public TimeSpan Elapsed { get { return ElapsedSource == null ? TimeSpan.Zero : ElapsedSource(); } }
        public LastError LastError;
        /// The key's subscription and its product (assumption 22).
        public Subscription Subscription;
        public Product Product;
    }

    /// One policy expression: where it is, and its code.
    public class Expr
    {
        public XObject Node;
        public string Code;
        public bool Block;
    }

    public static class Expressions
    {
        public static bool IsExpression(string v)
        {
            return v.StartsWith("@(") || v.StartsWith("@{");
        }

        /// Every expression of a document, in document order (attributes before text).
        public static List<Expr> Collect(XDocument doc)
        {
            var list = new List<Expr>();
            foreach (var e in doc.Descendants())
            {
                foreach (var a in e.Attributes())
                {
                    if (IsExpression(a.Value)) { list.Add(Make(a, a.Value)); }
                }
                if (!e.HasElements)
                {
                    string t = e.Value.Trim();
                    if (IsExpression(t)) { list.Add(Make(e, t)); }
                }
            }
            return list;
        }

        static Expr Make(XObject node, string v)
        {
            return new Expr { Node = node, Code = v.Substring(2, v.Length - 3), Block = v[1] == '{' };
        }

        /// Reads a rendered policy. Named values ({{x}}) become the value
        /// `namedValue` gives, or the visible placeholder nv(x) (assumption
        /// 16). The document is APIM "rawxml": expressions may hold `<` and
        /// `&` as written; they are escaped first, as APIM does, so the rest
        /// parses as XML.
        public static XDocument Load(string path, Func<string, string> namedValue = null)
        {
            string text = ReplaceNamedValues(File.ReadAllText(path), path, namedValue, System.Security.SecurityElement.Escape);
            return XDocument.Parse(RawXml.Escape(text));
        }

        /// Every {{x}} of `text` (found in `where`) as `escape` of its value,
        /// or nv(x) without `namedValue` (assumption 16).
        public static string ReplaceNamedValues(string text, string where, Func<string, string> namedValue, Func<string, string> escape)
        {
            return Regex.Replace(text, "[{][{]([A-Za-z0-9._-]+)[}][}]", m =>
            {
                string name = m.Groups[1].Value;
                if (namedValue == null) { return "nv(" + name + ")"; }
                string v = namedValue(name);
                if (v == null) { throw new ArgumentException(where + ": the named value " + name + " has no value in the configuration"); }
                if (v.StartsWith("@")) { throw new ArgumentException("the named value " + name + " starts with @, which would turn it into an expression"); }
                return escape(v);
            });
        }
    }

    /// rawxml to XML: inside every expression that starts an attribute value
    /// (`='@(`, `="@{`) or an element's text (`>@(` after optional white
    /// space), `&`, `<` and `>` become entities. The end of an expression is
    /// found by matching brackets, skipping C# string and char literals.
    public static class RawXml
    {
        public static string Escape(string text)
        {
            var sb = new StringBuilder(text.Length + 64);
            int i = 0;
            while (i < text.Length)
            {
                if (text[i] == '@' && i + 1 < text.Length && (text[i + 1] == '(' || text[i + 1] == '{') && StartsValue(text, i))
                {
                    int end = MatchBracket(text, i + 1);
                    sb.Append(text, i, 2);
                    for (int k = i + 2; k < end; k++)
                    {
                        char c = text[k];
                        if (c == '&') { sb.Append("&amp;"); }
                        else if (c == '<') { sb.Append("&lt;"); }
                        else if (c == '>') { sb.Append("&gt;"); }
                        else { sb.Append(c); }
                    }
                    if (end < text.Length) { sb.Append(text[end]); }
                    i = end + 1;
                    continue;
                }
                sb.Append(text[i]);
                i++;
            }
            return sb.ToString();
        }

        /// Whether the `@` at `at` starts an attribute value or element text.
        static bool StartsValue(string text, int at)
        {
            if (at > 0 && (text[at - 1] == '\'' || text[at - 1] == '"')) { return at > 1 && text[at - 2] == '='; }
            int k = at - 1;
            while (k >= 0 && char.IsWhiteSpace(text[k])) { k--; }
            return k >= 0 && text[k] == '>';
        }

        /// Index of the bracket closing the one at `open`.
        static int MatchBracket(string text, int open)
        {
            int depth = 0;
            for (int k = open; k < text.Length; k++)
            {
                char c = text[k];
                if (c == '"')
                {
                    bool verbatim = k > 0 && text[k - 1] == '@';
                    for (k++; k < text.Length; k++)
                    {
                        if (verbatim) { if (text[k] == '"') { if (k + 1 < text.Length && text[k + 1] == '"') { k++; } else { break; } } }
                        else if (text[k] == '\\') { k++; }
                        else if (text[k] == '"') { break; }
                    }
                    continue;
                }
                if (c == '(' || c == '{') { depth++; }
                else if (c == ')' || c == '}') { depth--; if (depth == 0) { return k; } }
            }
            throw new FormatException("unclosed expression at offset " + open);
        }
    }

    /// A forward that got no answer (refused, reset, timed out).
    public class BackendUnreachable : Exception
    {
        public readonly string Reason;
        public BackendUnreachable(string host, string reason = "BackendConnectionFailure") : base("no answer from " + host) { Reason = reason; }
    }

    class ReturnResponse : Exception
    {
        public Response Response;
        public ReturnResponse(Response r) : base("return-response") { Response = r; }
    }

    class ExpressionFailed : Exception
    {
        public ExpressionFailed(string where, Exception inner) : base(where + ": " + inner.GetType().Name + ": " + inner.Message, inner) { }
    }

    /// The gateway's cache (assumptions 4, 5): single operations are atomic,
    /// nothing else is.
    public interface ICache
    {
        bool TryGet(string key, long nowMs, out object value);
        void Put(string key, object value, long expiresAtMs);
        /// Entries alive at `nowMs`, sorted by key.
        List<KeyValuePair<string, object>> Alive(long nowMs);
    }

    public class MemoryCache : ICache
    {
        readonly Dictionary<string, Tuple<object, long>> entries = new Dictionary<string, Tuple<object, long>>(StringComparer.Ordinal);

        public bool TryGet(string key, long nowMs, out object value)
        {
            lock (entries)
            {
                Tuple<object, long> hit;
                if (entries.TryGetValue(key, out hit) && hit.Item2 > nowMs) { value = hit.Item1; return true; }
                value = null;
                return false;
            }
        }

        public void Put(string key, object value, long expiresAtMs)
        {
            lock (entries) { entries[key] = Tuple.Create(value, expiresAtMs); if (Trace != null) { Trace.WriteLine(((long)(DateTime.UtcNow - new DateTime(1970, 1, 1, 0, 0, 0, DateTimeKind.Utc)).TotalMilliseconds).ToString() + " " + key + " " + value); Trace.Flush(); } }
        }
        static readonly System.IO.StreamWriter Trace = Environment.GetEnvironmentVariable("OAILB_HARNESS_TRACE") == null ? null : new System.IO.StreamWriter(Environment.GetEnvironmentVariable("OAILB_HARNESS_TRACE"), true);

        public List<KeyValuePair<string, object>> Alive(long nowMs)
        {
            lock (entries)
            {
                return entries.Where(kv => kv.Value.Item2 > nowMs).OrderBy(kv => kv.Key, StringComparer.Ordinal)
                    .Select(kv => new KeyValuePair<string, object>(kv.Key, kv.Value.Item1)).ToList();
            }
        }

        public MemoryCache Clone()
        {
            var c = new MemoryCache();
            lock (entries) { foreach (var kv in entries) { c.entries[kv.Key] = kv.Value; } }
            return c;
        }
    }

    /// Sends one attempt to a backend: `target` names it (a host, or a pool
    /// member), `url` is where the request goes.
    public interface IForwarder
    {
        Response Forward(Request req, string target, Url url, int timeoutSeconds);
    }

    /// A circuit breaker rule of one pool member (assumption 17).
    public class BreakerRule
    {
        public int Count = 1;
        public long IntervalMs = 60000;
        public List<Tuple<int, int>> Ranges = new List<Tuple<int, int>>();
        public long TripMs = 10000;
        public bool AcceptRetryAfter;
    }

    public class PoolMember
    {
        public string Name;
        public string Url;
        public int Priority;
        public int Weight;
        public BreakerRule Breaker;
        /// The backend's credentials.header: set on every attempt sent to it.
        public Dictionary<string, string[]> Headers = new Dictionary<string, string[]>();
    }

    /// A backend of type Pool with its members' breakers, as one gateway
    /// instance keeps them (assumption 17).
    public class Pool
    {
        public readonly string Id;
        readonly List<PoolMember> members;
        readonly Dictionary<string, List<long>> failures = new Dictionary<string, List<long>>();
        readonly Dictionary<string, long> openUntil = new Dictionary<string, long>();

        public Pool(string id, List<PoolMember> members)
        {
            Id = id;
            this.members = members;
        }

        /// `spec`: the members as tests/balancer_scenarios.rs (`pools`) and
        /// bench/lbbench/pools.py write them. Named values in a member's
        /// `headers` are replaced with `namedValue`'s value (nv(x) without).
        public static Pool FromJson(string id, JArray spec, Func<string, string> namedValue = null)
        {
            var list = new List<PoolMember>();
            foreach (JObject m in spec)
            {
                var b = (JObject)m["breaker"];
                var rule = new BreakerRule
                {
                    Count = (int)b["count"],
                    IntervalMs = (long)b["interval_ms"],
                    TripMs = (long)b["trip_ms"],
                    AcceptRetryAfter = (bool)b["accept_retry_after"],
                };
                foreach (JArray r in (JArray)b["ranges"]) { rule.Ranges.Add(Tuple.Create((int)r[0], (int)r[1])); }
                var member = new PoolMember { Name = (string)m["name"], Url = (string)m["url"], Priority = (int)m["priority"], Weight = (int)m["weight"], Breaker = rule };
                var headers = m["headers"] as JObject;
                if (headers != null)
                {
                    foreach (var h in headers.Properties())
                    {
                        member.Headers[h.Name] = ((JArray)h.Value).Select(v => Expressions.ReplaceNamedValues((string)v, "pool " + id + ", member " + member.Name, namedValue, x => x)).ToArray();
                    }
                }
                list.Add(member);
            }
            return new Pool(id, list);
        }

        /// The member for the next attempt, or null when every breaker is open.
        public PoolMember Pick(long nowMs, Func<double> draw)
        {
            lock (this)
            {
                var closed = members.Where(m => !openUntil.ContainsKey(m.Name) || openUntil[m.Name] <= nowMs).ToList();
                if (closed.Count == 0) { return null; }
                int best = closed.Min(m => m.Priority);
                var group = closed.Where(m => m.Priority == best).ToList();
                long total = group.Sum(m => (long)Math.Max(m.Weight, 1));
                long r = Math.Min(total - 1, (long)(draw() * total));
                foreach (var m in group)
                {
                    long w = Math.Max(m.Weight, 1);
                    if (r < w) { return m; }
                    r -= w;
                }
                return group[group.Count - 1];
            }
        }

        /// Counts an answer of `member` toward its breaker.
        public void Record(PoolMember member, Response answer, long nowMs)
        {
            var rule = member.Breaker;
            if (!rule.Ranges.Any(r => answer.StatusCode >= r.Item1 && answer.StatusCode <= r.Item2)) { return; }
            lock (this)
            {
                List<long> list;
                if (!failures.TryGetValue(member.Name, out list)) { list = failures[member.Name] = new List<long>(); }
                list.Add(nowMs);
                list.RemoveAll(t => t <= nowMs - rule.IntervalMs);
                if (list.Count < rule.Count) { return; }
                long trip = rule.TripMs;
                double seconds;
                if (rule.AcceptRetryAfter && double.TryParse(answer.Headers.GetValueOrDefault("Retry-After", ""), NumberStyles.Float, CultureInfo.InvariantCulture, out seconds) && seconds >= 0)
                {
                    trip = (long)Math.Ceiling(seconds * 1000);
                }
                openUntil[member.Name] = nowMs + trip;
                list.Clear();
            }
        }
    }

    /// One gateway instance as the requests share it: its cache and its
    /// backend pools' breakers.
    public class Gateway
    {
        public ICache Cache = new MemoryCache();
        /// Counters of rate-limit-by-key and llm-token-limit (assumptions 24, 25).
        public LimitCounters Limits = new LimitCounters();
        public Dictionary<string, Pool> Pools = new Dictionary<string, Pool>();
        /// Assumption 8's other reading: a forward without an answer ends the
        /// retry loop.
        public bool PropagateForwardFailures;
    }

    /// A loaded policy with its compiled expressions; shared by requests.
    public class Policy
    {
        public readonly XDocument Doc;
        readonly Dictionary<XObject, Func<Ctx, object>> compiled = new Dictionary<XObject, Func<Ctx, object>>();

        public Policy(XDocument doc, int policyIndex, Assembly exprs)
        {
            Doc = doc;
            var type = exprs.GetType("OailbHarness.Compiled", true);
            int k = 0;
            foreach (var e in Expressions.Collect(doc))
            {
                var m = type.GetMethod("P" + policyIndex + "_E" + k, BindingFlags.Public | BindingFlags.Static);
                if (m == null) { throw new InvalidOperationException("expression P" + policyIndex + "_E" + k + " is not compiled"); }
                compiled[e.Node] = (Func<Ctx, object>)Delegate.CreateDelegate(typeof(Func<Ctx, object>), m);
                k++;
            }
        }

        public Func<Ctx, object> Expression(XObject node)
        {
            Func<Ctx, object> f;
            return compiled.TryGetValue(node, out f) ? f : null;
        }
    }

    /// One request through one policy on one gateway instance.
    public partial class Pipeline
    {
        readonly Policy policy;
        readonly Gateway gw;
        readonly IForwarder forwarder;
        readonly Ctx ctx;
        /// Milliseconds since the epoch, for cache expiry and breakers.
        readonly Func<long> now;
        /// Called before every operation on shared state (cache, backends):
        /// where the interleaving mode lets another request run.
        readonly Action<string> step;
        string backendBase;
        string backendId;
        string rewrittenPath;
        bool responseFromBackend;
        /// Scopes around the API's, outermost first (assumption 21).
        readonly List<Policy> outer = new List<Policy>();
        readonly List<TokenReservation> reservations = new List<TokenReservation>();
        readonly List<KeyValuePair<string, string>> limitHeaders = new List<KeyValuePair<string, string>>();
        readonly List<XElement> tokenMetrics = new List<XElement>();
        /// Metrics the request emitted (assumptions 27, 28).
        public readonly JArray Metrics = new JArray();

        public Pipeline(Policy policy, Gateway gw, IForwarder forwarder, Ctx ctx, Func<long> now, Action<string> step)
        {
            this.policy = policy;
            this.gw = gw;
            this.forwarder = forwarder;
            this.ctx = ctx;
            this.now = now;
            this.step = step ?? (s => { });
        }

        /// Runs `scope` around the API's policy (a product's, assumption 21).
        public Pipeline Within(Policy scope)
        {
            if (scope != null) { outer.Add(scope); }
            return this;
        }

        object Eval(XObject node, string literal)
        {
            var f = policy.Expression(node);
            foreach (var o in outer) { if (f == null) { f = o.Expression(node); } }
            if (f == null) { return literal; }
            try { return f(ctx); }
            catch (Exception ex)
            {
                var el = node as XElement ?? ((XAttribute)node).Parent;
                string where = "<" + el.Name.LocalName + ">" + (node is XAttribute ? " @" + ((XAttribute)node).Name.LocalName : "");
                throw new ExpressionFailed(where, ex);
            }
        }

        static string Str(object v) { return v == null ? null : Convert.ToString(v, CultureInfo.InvariantCulture); }

        string Attr(XElement e, string name, string dflt = null)
        {
            var a = e.Attribute(name);
            return a == null ? dflt : Str(Eval(a, a.Value));
        }

        object AttrValue(XElement e, string name)
        {
            var a = e.Attribute(name);
            return a == null ? null : Eval(a, a.Value);
        }

        string Text(XElement e) { return Str(Eval(e, e.Value)); }

        /// Runs the request; returns the client's response and how it ended.
        public JObject Run()
        {
            var result = new JObject();
            Response final;
            string origin = "policy";
            try
            {
                try
                {
                    Section("inbound");
                    Section("backend");
                    Section("outbound");
                    final = ctx.Response;
                    origin = responseFromBackend ? "backend" : "policy";
                }
                catch (ReturnResponse rr) { final = rr.Response; }
                catch (PolicyRefusal refusal)
                {
                    // Assumptions 23 to 26: the policy's response is what on-error sees.
                    ctx.LastError = new LastError { Source = refusal.PolicySource, Reason = refusal.Reason, Message = refusal.Message };
                    ctx.Response = refusal.Response;
                    Section("on-error");
                    final = ctx.Response;
                }
                catch (Exception ex) when (ex is ExpressionFailed || ex is BackendUnreachable)
                {
                    if (ex is ExpressionFailed) { result["runtime_exception"] = ex.Message; }
                    var unreachable = ex as BackendUnreachable;
                    ctx.LastError = new LastError
                    {
                        Source = unreachable != null ? "forward-request" : "expression",
                        Reason = unreachable != null ? unreachable.Reason : "ExpressionValueEvaluationFailure",
                        Message = ex.Message,
                    };
                    ctx.Response = new Response { StatusCode = 500, StatusReason = "Internal Server Error" };
                    Section("on-error");
                    final = ctx.Response;
                }
            }
            catch (ReturnResponse rr) { final = rr.Response; }
            catch (ExpressionFailed ex)
            {
                result["runtime_exception"] = ex.Message;
                final = new Response { StatusCode = 500, StatusReason = "Internal Server Error" };
            }
            try { Finish(final, origin == "backend"); }
            catch (ExpressionFailed ex)
            {
                result["runtime_exception"] = ex.Message;
                final = new Response { StatusCode = 500, StatusReason = "Internal Server Error" };
            }
            if (Metrics.Count > 0) { result["metrics"] = Metrics; }
            result["status"] = final.StatusCode;
            result["reason"] = final.StatusReason;
            result["origin"] = origin;
            var headers = new JObject();
            foreach (var kv in final.Headers.OrderBy(k => k.Key, StringComparer.OrdinalIgnoreCase)) { headers[kv.Key.ToLowerInvariant()] = string.Join(",", kv.Value); }
            result["headers"] = headers;
            result["body"] = final.Body.Text;
            Final = final;
            return result;
        }

        /// The client's response after Run.
        public Response Final;

        void Section(string name)
        {
            var s = policy.Doc.Root.Element(name);
            if (s != null) { Block(s); }
        }

        /// `<base />` at `e`: the same section of the scope around e's (assumption 21).
        void Base(XElement e)
        {
            var scopes = outer.Concat(new[] { policy }).ToList();
            int at = scopes.FindIndex(p => p.Doc == e.Document);
            if (at <= 0) { return; }
            var section = e.Ancestors().First(a => a.Parent == e.Document.Root).Name.LocalName;
            var s = scopes[at - 1].Doc.Root.Element(section);
            if (s != null) { Block(s); }
        }

        void Block(XElement parent)
        {
            foreach (var e in parent.Elements()) { Do(e); }
        }

        void Do(XElement e)
        {
            switch (e.Name.LocalName)
            {
                case "base":
                    Base(e);
                    break;
                case "rate-limit-by-key":
                    RateLimit(e);
                    break;
                case "llm-token-limit":
                case "azure-openai-token-limit":
                    TokenLimit(e);
                    break;
                case "validate-azure-ad-token":
                    ValidateEntra(e);
                    break;
                case "llm-emit-token-metric":
                case "azure-openai-emit-token-metric":
                    tokenMetrics.Add(e);
                    break;
                case "emit-metric":
                    Metrics.Add(Metric(e, Attr(e, "name"), AttrValue(e, "value") ?? 1));
                    break;
                case "set-variable":
                    {
                        object v = AttrValue(e, "value");
                        AllowedTypes.Check(v, "<set-variable name=" + Attr(e, "name") + ">");
                        ctx.Variables.Set(Attr(e, "name"), v);
                        break;
                    }
                case "choose":
                    foreach (var branch in e.Elements())
                    {
                        if (branch.Name.LocalName == "otherwise") { Block(branch); return; }
                        if (Truth(AttrValue(branch, "condition"))) { Block(branch); return; }
                    }
                    break;
                case "return-response":
                    throw new ReturnResponse(BuildResponse(e));
                case "cache-lookup-value":
                    {
                        string key = Attr(e, "key");
                        step("cache-lookup-value " + key);
                        object hit;
                        string variable = Attr(e, "variable-name");
                        if (gw.Cache.TryGet(key, now(), out hit)) { ctx.Variables.Set(variable, hit); }
                        else if (e.Attribute("default-value") != null) { ctx.Variables.Set(variable, AttrValue(e, "default-value")); }
                        break;
                    }
                case "cache-store-value":
                    {
                        string key = Attr(e, "key");
                        object value = AttrValue(e, "value");
                        AllowedTypes.Check(value, "<cache-store-value>");
                        long seconds = long.Parse(Attr(e, "duration"), CultureInfo.InvariantCulture);
                        step("cache-store-value " + key);
                        gw.Cache.Put(key, value, now() + seconds * 1000);
                        break;
                    }
                case "authentication-managed-identity":
                    {
                        string token = "mi-token(" + Attr(e, "resource") + "," + Attr(e, "client-id", "system") + ")";
                        string variable = Attr(e, "output-token-variable-name");
                        if (variable != null) { ctx.Variables.Set(variable, token); }
                        else { ctx.Request.Headers.Set("Authorization", new[] { "Bearer " + token }); }
                        break;
                    }
                case "set-header":
                    SetHeader(e, InResponse(e) ? ctx.Response.Headers : ctx.Request.Headers);
                    break;
                case "set-query-parameter":
                    {
                        if (Attr(e, "exists-action") != "delete") { throw new NotSupportedException("set-query-parameter other than delete"); }
                        string name = Attr(e, "name");
                        var kept = ctx.Request.Url.QueryString.Split('&').Where(p => p != "" && !p.Split('=')[0].Equals(name, StringComparison.OrdinalIgnoreCase));
                        ctx.Request.Url.QueryString = string.Join("&", kept);
                        break;
                    }
                case "rewrite-uri":
                    {
                        string template = Attr(e, "template");
                        if (template.Contains("{") || template.Contains("}")) { throw new NotSupportedException("template parameters in rewrite-uri"); }
                        if (Attr(e, "copy-unmatched-params", "true") != "true") { throw new NotSupportedException("copy-unmatched-params=false"); }
                        rewrittenPath = template;
                        break;
                    }
                case "set-backend-service":
                    backendBase = Attr(e, "base-url");
                    backendId = Attr(e, "backend-id");
                    break;
                case "retry":
                    Retry(e);
                    break;
                case "forward-request":
                    Forward(e);
                    break;
                default:
                    throw new NotSupportedException("policy <" + e.Name.LocalName + "> is not modelled by the harness");
            }
        }

        static bool Truth(object v)
        {
            if (v is bool) { return (bool)v; }
            if (v is string) { return bool.Parse((string)v); }
            throw new InvalidCastException("condition is not a bool");
        }

        bool InResponse(XElement e)
        {
            var section = e.Ancestors().FirstOrDefault(a => a.Parent == e.Document.Root);
            return section != null && (section.Name.LocalName == "outbound" || section.Name.LocalName == "on-error");
        }

        void SetHeader(XElement e, Headers target)
        {
            string name = Attr(e, "name");
            string action = Attr(e, "exists-action", "override");
            var values = e.Elements("value").Select(Text).ToArray();
            switch (action)
            {
                case "delete": target.Remove(name); break;
                case "skip": if (!target.ContainsKey(name)) { target.Set(name, values); } break;
                case "append": target.Set(name, (target.ContainsKey(name) ? target[name] : new string[0]).Concat(values).ToArray()); break;
                default: target.Set(name, values); break;
            }
        }

        Response BuildResponse(XElement e)
        {
            var r = new Response { StatusCode = 200, StatusReason = "OK" };
            foreach (var c in e.Elements())
            {
                switch (c.Name.LocalName)
                {
                    case "set-status":
                        r.StatusCode = int.Parse(Attr(c, "code"), CultureInfo.InvariantCulture);
                        r.StatusReason = Attr(c, "reason", "");
                        break;
                    case "set-header": SetHeader(c, r.Headers); break;
                    case "set-body": r.Body.Text = Text(c); break;
                    default: throw new NotSupportedException("<" + c.Name.LocalName + "> in return-response");
                }
            }
            return r;
        }

        /// Assumptions 7 and 8.
        void Retry(XElement e)
        {
            int count = int.Parse(Attr(e, "count"), CultureInfo.InvariantCulture);
            if (count < 1 || count > 50) { throw new InvalidOperationException("retry count must be 1 to 50"); }
            for (int attempt = 0; ; attempt++)
            {
                Exception failure = null;
                try { Block(e); }
                catch (BackendUnreachable ex)
                {
                    if (gw.PropagateForwardFailures) { throw; }
                    failure = ex;
                }
                bool again = attempt < count && Truth(AttrValue(e, "condition"));
                if (!again)
                {
                    if (failure != null) { throw failure; }
                    return;
                }
            }
        }

        /// The request path below the API's path: what APIM appends to the backend URL.
        string ApiRelativePath()
        {
            string api = "/" + ctx.Api.Path.Trim('/');
            string path = ctx.Request.OriginalUrl.Path;
            return path.StartsWith(api + "/", StringComparison.OrdinalIgnoreCase) ? path.Substring(api.Length) : path;
        }

        /// The request as sent to a pool member: its credentials headers
        /// added to this attempt only (assumption 17).
        static Request WithHeaders(Request req, Dictionary<string, string[]> headers)
        {
            if (headers.Count == 0) { return req; }
            var sent = new Request { Method = req.Method, OriginalUrl = req.OriginalUrl, Url = req.Url, Body = req.Body };
            foreach (var h in req.Headers) { sent.Headers.Set(h.Key, h.Value); }
            foreach (var h in headers) { sent.Headers.Set(h.Key, h.Value); }
            return sent;
        }

        /// Assumptions 9, 15, 17.
        void Forward(XElement e)
        {
            if (e.Ancestors("retry").Any() && Attr(e, "buffer-request-body", "false") != "true") { throw new InvalidOperationException("forward-request inside retry must buffer the request body"); }
            int timeout = int.Parse(Attr(e, "timeout", "300"), CultureInfo.InvariantCulture);
            var url = ctx.Request.Url;
            string path = rewrittenPath ?? ApiRelativePath();
            step("forward-request");
            if (backendId != null)
            {
                Pool pool;
                if (!gw.Pools.TryGetValue(backendId, out pool)) { throw new InvalidOperationException("no backend " + backendId + " in the harness configuration"); }
                var member = pool.Pick(now(), () => Random.Source == null ? 0.0 : Random.Source());
                if (member == null)
                {
                    // Every member's breaker is open: the gateway answers itself.
                    ctx.Response = new Response { StatusCode = 503, StatusReason = "Backend pool " + backendId + " is temporarily unavailable" };
                    responseFromBackend = false;
                    return;
                }
                var b = Url.Parse(member.Url);
                url.Scheme = b.Scheme;
                url.Host = b.Host;
                url.Path = b.Path + path;
                var answer = forwarder.Forward(WithHeaders(ctx.Request, member.Headers), member.Name, url, timeout);
                pool.Record(member, answer, now());
                ctx.Response = answer;
            }
            else
            {
                if (backendBase == null) { throw new InvalidOperationException("no backend set"); }
                var b = Url.Parse(backendBase);
                url.Scheme = b.Scheme;
                url.Host = b.Host;
                url.Path = b.Path + path;
                ctx.Response = forwarder.Forward(ctx.Request, b.Host, url, timeout);
            }
            responseFromBackend = true;
        }
    }

    public static class Program
    {
        static string Generate(IList<string> policies)
        {
            var sb = new StringBuilder();
            sb.AppendLine("using System; using System.Collections.Generic; using System.Globalization; using System.Linq;");
            sb.AppendLine("using System.Text; using System.Text.RegularExpressions; using Newtonsoft.Json; using Newtonsoft.Json.Linq;");
            sb.AppendLine("namespace OailbHarness {");
            sb.AppendLine("public static class Compiled {");
            for (int p = 0; p < policies.Count; p++)
            {
                int k = 0;
                foreach (var e in Expressions.Collect(Expressions.Load(policies[p])))
                {
                    sb.AppendLine("public static object P" + p + "_E" + k + "(Ctx context)");
                    if (e.Block) { sb.AppendLine("{").AppendLine(e.Code).AppendLine("}"); }
                    else { sb.AppendLine("{ return (").AppendLine(e.Code).AppendLine("); }"); }
                    k++;
                }
            }
            sb.AppendLine("}}");
            return sb.ToString();
        }

        const string Usage = "usage: harness.exe gen OUT.cs POLICY.xml... | run EXPRESSIONS.dll PLAN.json | serve EXPRESSIONS.dll CONFIG.json";

        public static int Main(string[] args)
        {
            try
            {
                if (args.Length >= 2 && args[0] == "gen")
                {
                    File.WriteAllText(args[1], Generate(args.Skip(2).ToList()));
                    return 0;
                }
                if (args.Length == 3 && args[0] == "run")
                {
                    var plan = JObject.Parse(File.ReadAllText(args[2]));
                    Console.Out.Write(Scenarios.Play(Assembly.LoadFrom(args[1]), plan).ToString(Formatting.Indented));
                    return 0;
                }
                if (args.Length == 3 && args[0] == "serve")
                {
                    return LiveGateway.Serve(Assembly.LoadFrom(args[1]), args[2]);
                }
            }
            catch (Exception ex) when (ex is IOException || ex is JsonException || ex is ArgumentException || ex is System.Xml.XmlException || ex is FormatException)
            {
                Console.Error.WriteLine("harness: " + ex.Message);
                return 1;
            }
            Console.Error.WriteLine(Usage);
            return 2;
        }
    }
}
