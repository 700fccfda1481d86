// `serve`: the rendered policy as a live gateway. Every request runs the
// policy on a thread of the pool, concurrently with the others, against one
// shared cache per gateway instance (single operations atomic, nothing else:
// assumption 5), with real forwards to the backends (the request body
// buffered, the answer passed back with its status, headers and body), the
// real clock (context.Timestamp = arrival, context.Elapsed = time since) and
// real randomness. Several instances in one process split the requests
// round-robin, each with its own cache (several regions or self-hosted
// gateways), or one cache for all (`shared_cache`: one region's units, or
// an external cache; assumption 6). Backend pools keep breakers per instance.
//
//   mono harness.exe serve EXPRESSIONS.dll CONFIG.json
//
// CONFIG.json:
//   {"port": 8080, "policy": "policy.xml",
//    "api": {"id": "apis/openai", "name": "openai", "path": "openai"},
//    "named_values": {"p1a-api-key": "..."},
//    "upstreams": {"p1a.openai.azure.com": "http://127.0.0.1:40002"},
//    "instances": 1, "shared_cache": false, "max_seconds": 600,
//    "pools": {...}, "seed": 1}
// `pools`: the backend pools a pool-mode policy routes to, as
// bench/lbbench/pools.py writes them (members, breakers, credentials
// headers whose {{named values}} come from `named_values`).
// `upstreams` maps each backend host the policy sends to onto a loopback
// base URL (the path and query the policy built are kept); `seed` fixes the
// random draws (default: a new seed per run). The EXPRESSIONS.dll comes from
// `gen` on the same policy file.
using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Net;
using System.Reflection;
using System.Threading;
using Newtonsoft.Json.Linq;

namespace OailbHarness
{
    /// Real HTTP forwards; each backend host goes to its loopback base URL.
    public class HttpForwarder : IForwarder
    {
        static readonly HashSet<string> HopByHop = new HashSet<string>(StringComparer.OrdinalIgnoreCase)
        {
            "Host", "Content-Length", "Connection", "Keep-Alive", "Transfer-Encoding", "Expect", "Proxy-Connection", "TE", "Upgrade",
        };

        readonly Dictionary<string, string> upstreams;

        public HttpForwarder(Dictionary<string, string> upstreams) { this.upstreams = upstreams; }

        public Response Forward(Request req, string target, Url url, int timeoutSeconds)
        {
            string baseUrl;
            if (!upstreams.TryGetValue(url.Host, out baseUrl))
            {
                Console.Error.WriteLine("harness serve: no upstream for host " + url.Host + " (config `upstreams`)");
                throw new BackendUnreachable(url.Host);
            }
            string to = baseUrl.TrimEnd('/') + url.Path + (url.QueryString == "" ? "" : "?" + url.QueryString);
            var http = (HttpWebRequest)WebRequest.Create(to);
            http.Method = req.Method;
            http.AllowAutoRedirect = false;
            http.Proxy = null;
            http.KeepAlive = true;
            http.Timeout = timeoutSeconds * 1000;
            http.ReadWriteTimeout = timeoutSeconds * 1000;
            foreach (var h in req.Headers)
            {
                if (HopByHop.Contains(h.Key)) { continue; }
                string v = string.Join(",", h.Value);
                switch (h.Key.ToLowerInvariant())
                {
                    case "content-type": http.ContentType = v; break;
                    case "accept": http.Accept = v; break;
                    case "user-agent": http.UserAgent = v; break;
                    case "referer": http.Referer = v; break;
                    // Not forwarded (HttpWebRequest takes them typed; no
                    // client of the bench sends them).
                    case "date": break;
                    case "range": break;
                    case "if-modified-since": break;
                    default: http.Headers[h.Key] = v; break;
                }
            }
            HttpWebResponse answer;
            try
            {
                byte[] body = req.Body.Bytes;
                if (body.Length > 0 || req.Method != "GET")
                {
                    http.ContentLength = body.Length;
                    using (var s = http.GetRequestStream()) { s.Write(body, 0, body.Length); }
                }
                answer = (HttpWebResponse)http.GetResponse();
            }
            catch (WebException ex) when (ex.Response is HttpWebResponse)
            {
                answer = (HttpWebResponse)ex.Response;
            }
            catch (WebException ex)
            {
                throw new BackendUnreachable(target, ex.Status == WebExceptionStatus.Timeout ? "Timeout" : "BackendConnectionFailure");
            }
            catch (IOException)
            {
                throw new BackendUnreachable(target);
            }
            using (answer)
            {
                var r = new Response { StatusCode = (int)answer.StatusCode, StatusReason = answer.StatusDescription ?? "" };
                foreach (string k in answer.Headers.AllKeys)
                {
                    if (!HopByHop.Contains(k)) { r.Headers.Set(k, answer.Headers.GetValues(k)); }
                }
                try
                {
                    using (var s = answer.GetResponseStream())
                    using (var m = new MemoryStream())
                    {
                        s.CopyTo(m);
                        r.Body.Bytes = m.ToArray();
                    }
                }
                catch (Exception ex) when (ex is IOException || ex is WebException)
                {
                    // The connection dropped while the body was on its way.
                    throw new BackendUnreachable(target);
                }
                return r;
            }
        }
    }

    public static class LiveGateway
    {
        static readonly HashSet<string> NotCopied = new HashSet<string>(StringComparer.OrdinalIgnoreCase)
        {
            "Content-Length", "Transfer-Encoding", "Connection", "Keep-Alive", "Content-Type", "Date", "Server",
        };

        static int Fail(string message)
        {
            Console.Error.WriteLine("harness serve: " + message);
            return 1;
        }

        public static int Serve(Assembly exprs, string configPath)
        {
            var config = JObject.Parse(File.ReadAllText(configPath));
            Func<string, string> Need = field =>
            {
                var v = config.SelectToken(field);
                if (v == null || v.Type == JTokenType.Null) { throw new ArgumentException(configPath + ": missing field `" + field + "`"); }
                return (string)v;
            };
            int port = int.Parse(Need("port"), CultureInfo.InvariantCulture);
            var namedValues = ((JObject)config["named_values"] ?? new JObject()).Properties().ToDictionary(p => p.Name, p => (string)p.Value);
            var policy = new Policy(Expressions.Load(Need("policy"), n => namedValues.ContainsKey(n) ? namedValues[n] : null), 0, exprs);
            var api = new Api { Id = Need("api.id"), Name = Need("api.name"), Path = Need("api.path") };
            var upstreams = ((JObject)config["upstreams"] ?? new JObject()).Properties().ToDictionary(p => p.Name, p => (string)p.Value, StringComparer.OrdinalIgnoreCase);
            int instances = (int?)config["instances"] ?? 1;
            if (instances < 1 || instances > 64) { return Fail(configPath + ": `instances` must be 1 to 64"); }
            bool sharedCache = (bool?)config["shared_cache"] ?? false;
            double maxSeconds = (double?)config["max_seconds"] ?? 600;
            int seed = (int?)config["seed"] ?? Environment.TickCount;

            var shared = new MemoryCache();
            var gateways = new Gateway[instances];
            for (int i = 0; i < instances; i++)
            {
                gateways[i] = new Gateway { Cache = sharedCache ? shared : new MemoryCache() };
                var pools = config["pools"] as JObject;
                if (pools != null) { foreach (var p in pools.Properties()) { gateways[i].Pools[p.Name] = Pool.FromJson(p.Name, (JArray)p.Value, n => namedValues.ContainsKey(n) ? namedValues[n] : null); } }
            }
            var forwarder = new HttpForwarder(upstreams);
            var seeds = new System.Random(seed);
            var rng = new ThreadLocal<System.Random>(() => { lock (seeds) { return new System.Random(seeds.Next()); } });

            ServicePointManager.DefaultConnectionLimit = 1024;
            ServicePointManager.Expect100Continue = false;
            ServicePointManager.UseNagleAlgorithm = false;
            // Every request blocks a pool thread while it forwards: start
            // with enough threads that none waits for the pool to grow.
            ThreadPool.SetMaxThreads(1024, 1024);
            if (!ThreadPool.SetMinThreads(256, 256)) { return Fail("cannot reserve 256 pool threads"); }

            var listener = new HttpListener();
            listener.Prefixes.Add("http://127.0.0.1:" + port.ToString(CultureInfo.InvariantCulture) + "/");
            listener.Start();
            Console.Out.WriteLine("harness serve: listening on 127.0.0.1:" + port + ", " + instances + " instance(s), " + (sharedCache || instances == 1 ? "one cache" : "a cache each"));
            Console.Out.Flush();
            var stop = new Timer(_ => { Console.Out.WriteLine("harness serve: max_seconds reached"); Console.Out.Flush(); Environment.Exit(0); }, null, (long)(maxSeconds * 1000), Timeout.Infinite);
            long counter = 0;
            while (listener.IsListening)
            {
                HttpListenerContext hc;
                try { hc = listener.GetContext(); }
                catch (HttpListenerException) { break; }
                var gw = gateways[(int)(Interlocked.Increment(ref counter) % instances)];
                ThreadPool.QueueUserWorkItem(_ => Handle(hc, policy, api, gw, forwarder, rng));
            }
            GC.KeepAlive(stop);
            return 0;
        }

        static void Handle(HttpListenerContext hc, Policy policy, Api api, Gateway gw, IForwarder forwarder, ThreadLocal<System.Random> rng)
        {
            var arrival = DateTime.UtcNow;
            var clock = Stopwatch.StartNew();
            try
            {
                var ctx = new Ctx { Api = api, Timestamp = arrival, ElapsedSource = () => clock.Elapsed };
                var url = hc.Request.Url.ToString();
                ctx.Request = new Request { Method = hc.Request.HttpMethod, OriginalUrl = Url.Parse(url), Url = Url.Parse(url) };
                foreach (string k in hc.Request.Headers.AllKeys) { ctx.Request.Headers.Set(k, hc.Request.Headers.GetValues(k)); }
                using (var m = new MemoryStream())
                {
                    hc.Request.InputStream.CopyTo(m);
                    ctx.Request.Body.Bytes = m.ToArray();
                }
                var random = rng.Value;
                Random.Source = random.NextDouble;
                var epoch = new DateTime(1970, 1, 1, 0, 0, 0, DateTimeKind.Utc);
                var pipeline = new Pipeline(policy, gw, forwarder, ctx, () => (long)(DateTime.UtcNow - epoch).TotalMilliseconds, null);
                var result = pipeline.Run();
                if (result["runtime_exception"] != null) { Console.Error.WriteLine("harness serve: runtime exception in the policy: " + result["runtime_exception"]); }
                var final = pipeline.Final;
                var res = hc.Response;
                res.StatusCode = final.StatusCode;
                if (!string.IsNullOrEmpty(final.StatusReason)) { res.StatusDescription = final.StatusReason; }
                foreach (var h in final.Headers)
                {
                    if (h.Key.Equals("Content-Type", StringComparison.OrdinalIgnoreCase)) { res.ContentType = string.Join(",", h.Value); continue; }
                    if (NotCopied.Contains(h.Key)) { continue; }
                    try { res.Headers[h.Key] = string.Join(",", h.Value); }
                    catch (ArgumentException) { }
                }
                byte[] body = final.Body.Bytes;
                res.ContentLength64 = body.Length;
                res.OutputStream.Write(body, 0, body.Length);
                res.OutputStream.Close();
            }
            catch (Exception ex)
            {
                Console.Error.WriteLine("harness serve: " + ex.GetType().Name + ": " + ex.Message);
                try { hc.Response.StatusCode = 500; hc.Response.Close(); } catch (Exception) { }
            }
        }
    }
}
