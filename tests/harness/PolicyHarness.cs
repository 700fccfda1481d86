// Executes rendered APIM policies against mocked backends, for the scenario
// tests (tests/balancer_scenarios.rs). It interprets the policy's control flow
// (sections, choose, retry, return-response, cache, forward-request, headers,
// URL rewriting) and runs its C# expressions for real: `gen` writes every
// expression of the given policies as a method of one C# file, which is
// compiled (mcs) into a library; `run` loads that library and plays the
// scenarios.
//
// APIM semantics modelled here because the policy depends on them:
// - a set-variable value that is a literal is stored as a string;
// - cache-lookup-value on a miss leaves the variable unset;
// - retry runs its children, then evaluates its condition after every
//   attempt, also when a forward-request inside failed without an answer;
// - forward-request replaces context.Response;
// - return-response ends the pipeline (outbound does not run);
// - an error (an expression that throws, a forward without an answer outside
//   retry) runs on-error; an expression that throws is reported as a runtime
//   exception, the thing the policy must never do.
//
// `Random` below shadows System.Random for the expressions (they are compiled
// in this namespace), so scenarios can script the weighted picks.
using System;
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
    /// Scripted draws in [0, 1) for the current request; 0 when none are left.
    public class Random
    {
        public static Queue<double> Draws = new Queue<double>();

        public int Next(int max)
        {
            if (max <= 0) { throw new ArgumentOutOfRangeException("max"); }
            return Math.Min(max - 1, (int)(NextDouble() * max));
        }

        public double NextDouble()
        {
            return Draws.Count > 0 ? Draws.Dequeue() : 0.0;
        }
    }

    public class Headers : Dictionary<string, string[]>
    {
        public Headers() : base(StringComparer.OrdinalIgnoreCase) { }

        public string GetValueOrDefault(string name, string defaultValue)
        {
            string[] v;
            return TryGetValue(name, out v) && v.Length > 0 ? string.Join(",", v) : defaultValue;
        }

        public string GetValueOrDefault(string name) { return GetValueOrDefault(name, null); }
    }

    public class Variables : Dictionary<string, object>
    {
        /// As in APIM: a plain cast, which throws when the stored value is not a T.
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

    /// A message body as APIM exposes it: As<T> reads it as text, JSON or
    /// bytes; without preserveContent it can be read only once.
    public class MessageBody
    {
        public string Text = "";
        bool consumed;

        public T As<T>(bool preserveContent = false)
        {
            if (consumed) { throw new InvalidOperationException("the body was read before without preserveContent"); }
            if (!preserveContent) { consumed = true; }
            object v;
            if (typeof(T) == typeof(string)) { v = Text; }
            else if (typeof(T) == typeof(JObject)) { v = JObject.Parse(Text); }
            else if (typeof(T) == typeof(JToken)) { v = JToken.Parse(Text); }
            else if (typeof(T) == typeof(JArray)) { v = JArray.Parse(Text); }
            else if (typeof(T) == typeof(byte[])) { v = Encoding.UTF8.GetBytes(Text); }
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
        public string Body = "";
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

    public class Ctx
    {
        public Api Api;
        public Request Request;
        public Response Response;
        public Variables Variables = new Variables();
        public DateTime Timestamp;
        /// Time since Timestamp (APIM: "current time minus Timestamp").
        public TimeSpan Elapsed = TimeSpan.Zero;
        public LastError LastError;
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

        /// Named values become visible placeholders: {{x}} -> nv(x). The
        /// document is APIM "rawxml": expressions may hold `<` and `&` as
        /// written; they are escaped first, as APIM does, so the rest parses
        /// as XML.
        public static XDocument Load(string path)
        {
            string text = File.ReadAllText(path);
            text = Regex.Replace(text, "[{][{]([A-Za-z0-9._-]+)[}][}]", "nv($1)");
            return XDocument.Parse(RawXml.Escape(text));
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

    class BackendUnreachable : Exception
    {
        public BackendUnreachable(string host) : base("no answer from " + host) { }
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

    /// What the mocked backends answer during one request.
    public class Backends
    {
        public Dictionary<string, string> HostToName = new Dictionary<string, string>();
        public JObject Answers = new JObject();
        public JArray Attempts = new JArray();

        public Response Forward(Request req, string target)
        {
            string name;
            if (!HostToName.TryGetValue(target, out name)) { name = target; }
            var attempt = new JObject();
            attempt["backend"] = name;
            attempt["url"] = req.Url == null ? null : req.Url.ToString();
            attempt["authorization"] = req.Headers.GetValueOrDefault("Authorization", null);
            attempt["api_key"] = req.Headers.GetValueOrDefault("api-key", null);
            var sent = new JObject();
            foreach (var kv in req.Headers.OrderBy(k => k.Key, StringComparer.OrdinalIgnoreCase)) { sent[kv.Key.ToLowerInvariant()] = string.Join(",", kv.Value); }
            attempt["headers"] = sent;
            Attempts.Add(attempt);
            JToken a = Answers[name] ?? Answers["*"];
            if (a != null && a.Type == JTokenType.String && (string)a == "no-answer")
            {
                throw new BackendUnreachable(name);
            }
            var r = new Response { StatusCode = 200, StatusReason = "OK", Body = "{\"served_by\":\"" + name + "\"}" };
            if (a != null && a.Type == JTokenType.Object)
            {
                if (a["status"] != null) { r.StatusCode = (int)a["status"]; }
                var h = a["headers"] as JObject;
                if (h != null) { foreach (var p in h.Properties()) { r.Headers[p.Name] = new[] { (string)p.Value }; } }
            }
            return r;
        }
    }

    public class Interpreter
    {
        readonly Dictionary<XObject, Func<Ctx, object>> compiled = new Dictionary<XObject, Func<Ctx, object>>();
        readonly XDocument doc;
        public Dictionary<string, Tuple<string, long>> Cache;
        public Backends Backends;
        /// A forward without an answer ends the retry loop (on-error runs)
        /// instead of being retried: the alternative APIM semantics.
        public bool PropagateForwardFailures;
        Ctx ctx;
        string backendBase;
        string backendId;
        string rewrittenPath;
        bool responseFromBackend;

        public Interpreter(XDocument doc, int policyIndex, Assembly exprs)
        {
            this.doc = doc;
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

        long NowMs { get { return (long)(ctx.Timestamp - new DateTime(1970, 1, 1, 0, 0, 0, DateTimeKind.Utc)).TotalMilliseconds; } }

        object Eval(XObject node, string literal)
        {
            Func<Ctx, object> f;
            if (!compiled.TryGetValue(node, out f)) { return literal; }
            try { return f(ctx); }
            catch (Exception ex)
            {
                var el = node as XElement ?? ((XAttribute)node).Parent;
                string where = "<" + el.Name.LocalName + ">" + (node is XAttribute ? " @" + ((XAttribute)node).Name.LocalName : "");
                throw new ExpressionFailed(where, ex);
            }
        }

        string Attr(XElement e, string name, string dflt = null)
        {
            var a = e.Attribute(name);
            if (a == null) { return dflt; }
            object v = Eval(a, a.Value);
            return v == null ? null : Convert.ToString(v, CultureInfo.InvariantCulture);
        }

        object AttrValue(XElement e, string name)
        {
            var a = e.Attribute(name);
            return a == null ? null : Eval(a, a.Value);
        }

        string Text(XElement e)
        {
            object v = Eval(e, e.Value);
            return v == null ? null : Convert.ToString(v, CultureInfo.InvariantCulture);
        }

        /// Runs one request; returns the client's response and what happened.
        public JObject Run(Ctx context)
        {
            ctx = context;
            backendBase = null;
            backendId = null;
            rewrittenPath = null;
            responseFromBackend = false;
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
                catch (Exception ex) when (ex is ExpressionFailed || ex is BackendUnreachable)
                {
                    if (ex is ExpressionFailed) { result["runtime_exception"] = ex.Message; }
                    ctx.LastError = new LastError
                    {
                        Source = ex is BackendUnreachable ? "forward-request" : "expression",
                        Reason = ex is BackendUnreachable ? "BackendConnectionFailure" : "ExpressionValueEvaluationFailure",
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
            result["status"] = final.StatusCode;
            result["origin"] = origin;
            var headers = new JObject();
            foreach (var kv in final.Headers.OrderBy(k => k.Key, StringComparer.OrdinalIgnoreCase)) { headers[kv.Key.ToLowerInvariant()] = string.Join(",", kv.Value); }
            result["headers"] = headers;
            result["body"] = final.Body;
            return result;
        }

        void Section(string name)
        {
            var s = doc.Root.Element(name);
            if (s != null) { Block(s); }
        }

        void Block(XElement parent)
        {
            foreach (var e in parent.Elements()) { Policy(e); }
        }

        void Policy(XElement e)
        {
            switch (e.Name.LocalName)
            {
                case "base":
                    break;
                case "set-variable":
                    ctx.Variables[Attr(e, "name")] = AttrValue(e, "value");
                    break;
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
                        Tuple<string, long> hit;
                        if (Cache.TryGetValue(key, out hit) && hit.Item2 > NowMs) { ctx.Variables[Attr(e, "variable-name")] = hit.Item1; }
                        else if (e.Attribute("default-value") != null) { ctx.Variables[Attr(e, "variable-name")] = AttrValue(e, "default-value"); }
                        break;
                    }
                case "cache-store-value":
                    {
                        long seconds = long.Parse(Attr(e, "duration"), CultureInfo.InvariantCulture);
                        Cache[Attr(e, "key")] = Tuple.Create(Convert.ToString(AttrValue(e, "value"), CultureInfo.InvariantCulture), NowMs + seconds * 1000);
                        break;
                    }
                case "authentication-managed-identity":
                    {
                        string token = "mi-token(" + Attr(e, "resource") + "," + Attr(e, "client-id", "system") + ")";
                        string variable = Attr(e, "output-token-variable-name");
                        if (variable != null) { ctx.Variables[variable] = token; }
                        else { ctx.Request.Headers["Authorization"] = new[] { "Bearer " + token }; }
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
            var section = e.Ancestors().FirstOrDefault(a => a.Parent == doc.Root);
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
                case "skip": if (!target.ContainsKey(name)) { target[name] = values; } break;
                case "append": target[name] = (target.ContainsKey(name) ? target[name] : new string[0]).Concat(values).ToArray(); break;
                default: target[name] = values; break;
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
                    case "set-body": r.Body = Text(c); break;
                    default: throw new NotSupportedException("<" + c.Name.LocalName + "> in return-response");
                }
            }
            return r;
        }

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
                    if (PropagateForwardFailures) { throw; }
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

        void Forward(XElement e)
        {
            if (Attr(e, "buffer-request-body", "false") != "true") { throw new InvalidOperationException("forward-request inside retry must buffer the request body"); }
            var url = ctx.Request.Url;
            string target;
            if (backendId != null)
            {
                target = backendId;
                url.Host = backendId;
                url.Path = rewrittenPath ?? ApiRelativePath();
            }
            else
            {
                if (backendBase == null) { throw new InvalidOperationException("no backend set"); }
                var b = Url.Parse(backendBase);
                url.Scheme = b.Scheme;
                url.Host = b.Host;
                url.Path = b.Path + (rewrittenPath ?? ApiRelativePath());
                target = b.Host;
            }
            ctx.Response = Backends.Forward(ctx.Request, target);
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

        /// run EXPRESSIONS_DLL PLAN_JSON: plays every request of the plan and
        /// prints one JSON result per request, in order.
        static JArray Play(Assembly exprs, JObject plan)
        {
            var policies = (JArray)plan["policies"];
            var interpreters = new List<Interpreter>();
            for (int i = 0; i < policies.Count; i++)
            {
                interpreters.Add(new Interpreter(Expressions.Load((string)policies[i]["file"]), i, exprs));
            }
            var results = new JArray();
            foreach (JObject run in (JArray)plan["runs"])
            {
                // One cache per run: a scenario is one gateway.
                var cache = new Dictionary<string, Tuple<string, long>>();
                var runResults = new JArray();
                long lastNow = 0;
                foreach (JObject req in (JArray)run["requests"])
                {
                    var pol = (JObject)policies[(int)req["policy"]];
                    var interp = interpreters[(int)req["policy"]];
                    var backends = new Backends { Answers = (JObject)req["answers"] ?? new JObject() };
                    foreach (var p in ((JObject)pol["hosts"]).Properties()) { backends.HostToName[p.Name] = (string)p.Value; }
                    interp.Cache = cache;
                    interp.Backends = backends;
                    interp.PropagateForwardFailures = (bool?)run["propagate_forward_failures"] ?? false;
                    lastNow = Math.Max(lastNow, (long)req["now_ms"]);
                    Random.Draws = new Queue<double>(((JArray)req["draws"]).Select(d => (double)d));
                    var ctx = new Ctx
                    {
                        Api = new Api { Id = (string)pol["api_id"], Name = (string)pol["api"], Path = (string)pol["api_path"] },
                        Timestamp = new DateTime(1970, 1, 1, 0, 0, 0, DateTimeKind.Utc).AddMilliseconds((long)req["now_ms"]),
                    };
                    string url = (string)req["url"];
                    ctx.Request = new Request { OriginalUrl = Url.Parse(url), Url = Url.Parse(url) };
                    ctx.Request.Body.Text = (string)req["body"] ?? "";
                    foreach (var p in ((JObject)req["headers"]).Properties()) { ctx.Request.Headers[p.Name] = new[] { (string)p.Value }; }
                    var result = interp.Run(ctx);
                    result["attempts"] = backends.Attempts;
                    runResults.Add(result);
                }
                var left = new JObject();
                foreach (var kv in cache.Where(kv => kv.Value.Item2 > lastNow).OrderBy(kv => kv.Key, StringComparer.Ordinal)) { left[kv.Key] = kv.Value.Item1; }
                results.Add(new JObject(new JProperty("results", runResults), new JProperty("cache", left)));
            }
            return results;
        }

        public static int Main(string[] args)
        {
            if (args.Length >= 2 && args[0] == "gen")
            {
                File.WriteAllText(args[1], Generate(args.Skip(2).ToList()));
                return 0;
            }
            if (args.Length == 3 && args[0] == "run")
            {
                var exprs = Assembly.LoadFrom(args[1]);
                var plan = JObject.Parse(File.ReadAllText(args[2]));
                Console.Out.Write(Play(exprs, plan).ToString(Formatting.Indented));
                return 0;
            }
            Console.Error.WriteLine("usage: harness.exe gen OUT.cs POLICY.xml... | run EXPRESSIONS.dll PLAN.json");
            return 2;
        }
    }
}
