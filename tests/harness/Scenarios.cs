// `run`: plays the scenario table of tests/balancer_scenarios.rs. Requests
// run one after another, each at its step's time, against mocked backends
// that answer as the step says. A run may name two requests that overlap in
// time (`overlap`): it is then played once per interleaving of their
// operations on shared state (every cache lookup and store, every forward),
// as APIM runs concurrent requests against one cache without atomic
// updates. The first variant is the serial one (in table order), which the
// Rust balancer must match exactly; every variant must meet the table.
using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Reflection;
using System.Threading;
using Newtonsoft.Json.Linq;

namespace OailbHarness
{
    /// What the mocked backends answer to one request, and what they saw.
    public class MockBackends : IForwarder
    {
        public Dictionary<string, string> HostToName = new Dictionary<string, string>();
        public JObject Answers = new JObject();
        public JArray Attempts = new JArray();
        /// Called as each answer arrives (before it is read): the time it took.
        public Action Answering = () => { };

        public Response Forward(Request req, string target, Url url, int timeoutSeconds)
        {
            string name;
            if (!HostToName.TryGetValue(target, out name)) { name = target; }
            var attempt = new JObject();
            attempt["backend"] = name;
            attempt["url"] = url.ToString();
            attempt["authorization"] = req.Headers.GetValueOrDefault("Authorization", null);
            attempt["api_key"] = req.Headers.GetValueOrDefault("api-key", null);
            var sent = new JObject();
            foreach (var kv in req.Headers.OrderBy(k => k.Key, StringComparer.OrdinalIgnoreCase)) { sent[kv.Key.ToLowerInvariant()] = string.Join(",", kv.Value); }
            attempt["headers"] = sent;
            attempt["body"] = req.Body.Text;
            Attempts.Add(attempt);
            JToken a = Answers[name] ?? Answers["*"];
            Answering();
            if (a != null && a.Type == JTokenType.String && (string)a == "no-answer")
            {
                throw new BackendUnreachable(name);
            }
            var r = new Response { StatusCode = 200, StatusReason = "OK" };
            r.Body.Text = "{\"served_by\":\"" + name + "\"}";
            if (a != null && a.Type == JTokenType.Object)
            {
                if (a["status"] != null) { r.StatusCode = (int)a["status"]; r.StatusReason = "Backend " + r.StatusCode; }
                var h = a["headers"] as JObject;
                if (h != null) { foreach (var p in h.Properties()) { r.Headers.Set(p.Name, new[] { (string)p.Value }); } }
                // The answer's token usage, as Azure OpenAI reports it.
                var usage = a["usage"] as JObject;
                if (usage != null) { r.Body.Text = new JObject(new JProperty("served_by", name), new JProperty("usage", usage)).ToString(Newtonsoft.Json.Formatting.None); }
            }
            return r;
        }
    }

    /// Runs requests one at a time on their own threads, switching only at
    /// their step points, as a schedule says: segments of (request, number of
    /// operations), then each request to its end in the schedule's order.
    public class Interleaving
    {
        readonly object gate = new object();
        readonly List<Tuple<int, int>> segments;
        readonly bool[] done;
        int next;
        int running = -1;
        int left;
        public readonly List<int> Trace = new List<int>();

        public Interleaving(int actors, List<Tuple<int, int>> segments)
        {
            this.segments = segments;
            done = new bool[actors];
            lock (gate) { Advance(); }
        }

        void Advance()
        {
            while (next < segments.Count)
            {
                var s = segments[next++];
                if (!done[s.Item1]) { running = s.Item1; left = s.Item2; Monitor.PulseAll(gate); return; }
            }
            running = Array.IndexOf(done, false);
            left = -1;
            Monitor.PulseAll(gate);
        }

        void WaitTurn(int a)
        {
            while (running != a)
            {
                if (!Monitor.Wait(gate, 30000)) { throw new TimeoutException("interleaving stalled"); }
            }
        }

        /// Before request `a`'s first step.
        public void Enter(int a)
        {
            lock (gate) { WaitTurn(a); }
        }

        /// Before each operation of request `a` on shared state.
        public void Step(int a)
        {
            lock (gate)
            {
                if (left == 0) { Advance(); }
                WaitTurn(a);
                if (left > 0) { left--; }
                Trace.Add(a);
            }
        }

        public void Done(int a)
        {
            lock (gate)
            {
                done[a] = true;
                if (running == a) { Advance(); }
            }
        }
    }

    public static class Scenarios
    {
        const long Forever = -1;

        class Run
        {
            public JObject Spec;
            public List<Policy> Policies;
            public JArray PolicySpecs;
            /// Product policies a request may run in (assumption 21).
            public List<Policy> Products = new List<Policy>();
        }

        static Ctx Context(JObject pol, JObject req)
        {
            var ctx = new Ctx
            {
                Api = new Api { Id = (string)pol["api_id"], Name = (string)pol["api_name"], Path = (string)pol["api_path"] },
                Timestamp = new DateTime(1970, 1, 1, 0, 0, 0, DateTimeKind.Utc).AddMilliseconds((long)req["now_ms"]),
                Deployment = new Deployment { Region = (string)req["gateway_region"] ?? "" },
            };
            string url = (string)req["url"];
            ctx.Request = new Request { OriginalUrl = Url.Parse(url), Url = Url.Parse(url) };
            ctx.Request.Body.Text = (string)req["body"] ?? "";
            foreach (var p in ((JObject)req["headers"]).Properties()) { ctx.Request.Headers.Set(p.Name, new[] { (string)p.Value }); }
            var sub = req["subscription"] as JObject;
            if (sub != null) { ctx.Subscription = new Subscription { Id = (string)sub["id"], Name = (string)sub["name"] ?? (string)sub["id"] }; }
            var product = req["product_id"];
            if (product != null && product.Type == JTokenType.String) { ctx.Product = new Product { Id = (string)product, Name = (string)product }; }
            return ctx;
        }

        /// Runs request `index` of the run on its gateway instance; `step` is
        /// the interleaving's hook.
        static JObject Request(Run run, IDictionary<string, Gateway> gateways, int index, Action<string> step)
        {
            var req = (JObject)run.Spec["requests"][index];
            var gw = gateways[GatewayOf(req)];
            int p = (int)req["policy"];
            var pol = (JObject)run.PolicySpecs[p];
            var backends = new MockBackends { Answers = (JObject)req["answers"] ?? new JObject() };
            foreach (var h in ((JObject)pol["hosts"]).Properties()) { backends.HostToName[h.Name] = (string)h.Value; }
            var draws = new Queue<double>(((JArray)req["draws"]).Select(d => (double)d));
            Random.Source = () => draws.Count > 0 ? draws.Dequeue() : 0.0;
            long now = (long)req["now_ms"];
            // Time passes only while a backend answers (answer_after_ms each).
            long after = (long?)req["answer_after_ms"] ?? 0;
            long elapsed = 0;
            backends.Answering = () => { elapsed += after; };
            var ctx = Context(pol, req);
            ctx.ElapsedSource = () => TimeSpan.FromMilliseconds(elapsed);
            var scope = req["product"] != null && req["product"].Type == JTokenType.Integer ? run.Products[(int)req["product"]] : null;
            var result = new Pipeline(run.Policies[p], gw, backends, ctx, () => now + elapsed, step).Within(scope).Run();
            result["attempts"] = backends.Attempts;
            return result;
        }

        static string GatewayOf(JToken req) { return (string)req["gateway"] ?? "a"; }

        static Gateway NewGateway(Run run)
        {
            var gw = new Gateway { PropagateForwardFailures = (bool?)run.Spec["propagate_forward_failures"] ?? false };
            foreach (JObject pol in run.PolicySpecs)
            {
                var pools = pol["pools"] as JObject;
                if (pools == null) { continue; }
                foreach (var p in pools.Properties())
                {
                    if (!gw.Pools.ContainsKey(p.Name)) { gw.Pools[p.Name] = Pool.FromJson(p.Name, (JArray)p.Value); }
                }
            }
            return gw;
        }

        /// The gateway instances the run's requests name, each with its own
        /// breakers; one cache for all (an external cache) unless the run
        /// gives each its own (`own_caches`).
        static SortedDictionary<string, Gateway> NewGateways(Run run)
        {
            var gateways = new SortedDictionary<string, Gateway>(StringComparer.Ordinal);
            bool own = (bool?)run.Spec["own_caches"] ?? false;
            ICache shared = null;
            foreach (var req in (JArray)run.Spec["requests"])
            {
                string name = GatewayOf(req);
                if (gateways.ContainsKey(name)) { continue; }
                var gw = NewGateway(run);
                if (!own)
                {
                    shared = shared ?? gw.Cache;
                    gw.Cache = shared;
                }
                gateways[name] = gw;
            }
            return gateways;
        }

        /// Plays the run once; the overlapping pair (if any) under `segments`.
        static JObject Variant(Run run, int[] overlap, List<Tuple<int, int>> segments, out List<int> trace)
        {
            var gateways = NewGateways(run);
            var requests = (JArray)run.Spec["requests"];
            var results = new JObject[requests.Count];
            long lastNow = 0;
            trace = new List<int>();
            for (int i = 0; i < requests.Count; i++)
            {
                lastNow = Math.Max(lastNow, (long)requests[i]["now_ms"]);
                if (overlap != null && i == overlap[1]) { continue; }
                if (overlap == null || i != overlap[0])
                {
                    results[i] = Request(run, gateways, i, null);
                    continue;
                }
                var il = new Interleaving(2, segments);
                var threads = new Thread[2];
                for (int a = 0; a < 2; a++)
                {
                    int actor = a;
                    threads[a] = new Thread(() =>
                    {
                        try
                        {
                            il.Enter(actor);
                            results[overlap[actor]] = Request(run, gateways, overlap[actor], s => il.Step(actor));
                        }
                        catch (Exception ex)
                        {
                            results[overlap[actor]] = new JObject(new JProperty("harness_error", ex.ToString()));
                        }
                        finally { il.Done(actor); }
                    });
                    threads[a].Start();
                }
                foreach (var t in threads)
                {
                    if (!t.Join(60000)) { throw new TimeoutException("an interleaved request did not finish"); }
                }
                trace = il.Trace;
            }
            // Own caches: every gateway's entries, keys prefixed `<gateway>/`.
            var cache = new JObject();
            bool own = (bool?)run.Spec["own_caches"] ?? false;
            foreach (var g in own ? (IEnumerable<KeyValuePair<string, Gateway>>)gateways : gateways.Take(1))
            {
                string prefix = own ? g.Key + "/" : "";
                foreach (var kv in g.Value.Cache.Alive(lastNow))
                {
                    // A value that is not a string shows its type: the Rust side stores text.
                    cache[prefix + kv.Key] = kv.Value is string ? (JToken)(string)kv.Value : new JObject(new JProperty("type", kv.Value == null ? "null" : kv.Value.GetType().FullName), new JProperty("value", Convert.ToString(kv.Value, CultureInfo.InvariantCulture)));
                }
            }
            return new JObject(new JProperty("results", new JArray(results)), new JProperty("cache", cache));
        }

        static List<Tuple<int, int>> Segments(params int[] pairs)
        {
            var list = new List<Tuple<int, int>>();
            for (int i = 0; i + 1 < pairs.Length; i += 2) { list.Add(Tuple.Create(pairs[i], pairs[i + 1])); }
            return list;
        }

        /// Every variant of a run: the serial one first, then every schedule
        /// with at most three switches between the two overlapping requests
        /// (one runs x operations, the other y, then each to its end), each
        /// distinct order of operations once.
        static JArray Variants(Run run)
        {
            var variants = new JArray();
            var ov = run.Spec["overlap"] as JArray;
            List<int> trace;
            if (ov == null)
            {
                variants.Add(Variant(run, null, null, out trace));
                return variants;
            }
            var overlap = new[] { (int)ov[0], (int)ov[1] };
            var seen = new HashSet<string>();
            Action<List<Tuple<int, int>>, string> play = (segments, label) =>
            {
                var v = Variant(run, overlap, segments, out trace);
                string key = string.Join("", trace);
                if (!seen.Add(key)) { return; }
                v["schedule"] = label;
                v["trace"] = key;
                variants.Add(v);
            };
            play(Segments(0, (int)Forever, 1, (int)Forever), "serial");
            int n0 = variants[0]["trace"].ToString().Count(c => c == '0');
            int n1 = variants[0]["trace"].ToString().Count(c => c == '1');
            for (int first = 0; first < 2; first++)
            {
                int second = 1 - first;
                int nf = first == 0 ? n0 : n1;
                int ns = first == 0 ? n1 : n0;
                for (int x = 0; x <= nf; x++)
                {
                    for (int y = 1; y <= ns; y++)
                    {
                        play(Segments(first, x, second, y, first, (int)Forever, second, (int)Forever),
                            string.Format(CultureInfo.InvariantCulture, "{0}:{1} {2}:{3} then both to the end", first, x, second, y));
                    }
                }
            }
            return variants;
        }

        /// Plays every run of the plan; per run its variants.
        public static JArray Play(Assembly exprs, JObject plan)
        {
            var specs = (JArray)plan["policies"];
            var policies = new List<Policy>();
            for (int i = 0; i < specs.Count; i++)
            {
                policies.Add(new Policy(Expressions.Load((string)specs[i]["file"]), i, exprs));
            }
            // Product policies come after the API policies in `gen`'s list.
            var products = new List<Policy>();
            var productSpecs = plan["products"] as JArray ?? new JArray();
            for (int j = 0; j < productSpecs.Count; j++)
            {
                products.Add(new Policy(Expressions.Load((string)productSpecs[j]["file"]), specs.Count + j, exprs));
            }
            var results = new JArray();
            foreach (JObject spec in (JArray)plan["runs"])
            {
                var run = new Run { Spec = spec, Policies = policies, PolicySpecs = specs, Products = products };
                results.Add(new JObject(new JProperty("variants", Variants(run))));
            }
            return results;
        }
    }
}
