//! Reads rendered Bicep back: a parser for the Bicep that oailb writes
//! (declarations, decorators, objects, arrays, interpolated strings, member
//! access, calls, `for` expressions, ternaries) and an evaluator that
//! follows modules and scopes, giving the ARM resources a deployment of
//! `main.bicep` with `main.bicepparam` creates.
//!
//! Runtime values (`identity.principalId`, `properties.ConnectionString`, a
//! module output built from them) evaluate to `ref:<arm id>:<ARM path>`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{json, Map, Value};

use super::Record;

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Str(Vec<Part>),
    Num(i64),
    Sym(&'static str),
}

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Lit(String),
    Expr(String),
}

const SYMS: &[&str] = &[
    "==", "!=", "&&", "||", "??", "?.", ".?", "{", "}", "[", "]", "(", ")", ":", ",", ".", "?",
    "!", "=", "@",
];

fn lex(src: &str) -> Vec<Tok> {
    let c: Vec<char> = src.chars().collect();
    let mut i = 0;
    let mut out = Vec::new();
    while i < c.len() {
        let ch = c[i];
        if ch.is_whitespace() {
            i += 1;
        } else if ch == '/' && c.get(i + 1) == Some(&'/') {
            while i < c.len() && c[i] != '\n' {
                i += 1;
            }
        } else if ch == '#' {
            // A pragma (`#disable-next-line BCP037`): no value.
            while i < c.len() && c[i] != '\n' {
                i += 1;
            }
        } else if ch == '/' && c.get(i + 1) == Some(&'*') {
            i += 2;
            while i + 1 < c.len() && !(c[i] == '*' && c[i + 1] == '/') {
                i += 1;
            }
            i += 2;
        } else if ch == '\'' {
            i += 1;
            let mut parts = Vec::new();
            let mut lit = String::new();
            while i < c.len() && c[i] != '\'' {
                if c[i] == '\\' {
                    let e = c[i + 1];
                    lit.push(match e {
                        'n' => '\n',
                        'r' => '\r',
                        't' => '\t',
                        other => other,
                    });
                    i += 2;
                } else if c[i] == '$' && c.get(i + 1) == Some(&'{') {
                    if !lit.is_empty() {
                        parts.push(Part::Lit(std::mem::take(&mut lit)));
                    }
                    i += 2;
                    let mut depth = 1;
                    let mut e = String::new();
                    let mut in_str = false;
                    while i < c.len() {
                        let x = c[i];
                        if in_str {
                            if x == '\\' {
                                e.push(x);
                                i += 1;
                                e.push(c[i]);
                                i += 1;
                                continue;
                            }
                            if x == '\'' {
                                in_str = false;
                            }
                        } else if x == '\'' {
                            in_str = true;
                        } else if x == '{' {
                            depth += 1;
                        } else if x == '}' {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                        }
                        e.push(x);
                        i += 1;
                    }
                    i += 1;
                    parts.push(Part::Expr(e));
                } else {
                    lit.push(c[i]);
                    i += 1;
                }
            }
            i += 1;
            if !lit.is_empty() || parts.is_empty() {
                parts.push(Part::Lit(lit));
            }
            out.push(Tok::Str(parts));
        } else if ch.is_ascii_digit() {
            let mut n = String::new();
            while i < c.len() && c[i].is_ascii_digit() {
                n.push(c[i]);
                i += 1;
            }
            out.push(Tok::Num(n.parse().unwrap()));
        } else if ch.is_ascii_alphabetic() || ch == '_' {
            let mut n = String::new();
            while i < c.len() && (c[i].is_ascii_alphanumeric() || c[i] == '_') {
                n.push(c[i]);
                i += 1;
            }
            out.push(Tok::Ident(n));
        } else {
            let rest: String = c[i..c.len().min(i + 2)].iter().collect();
            let sym = SYMS
                .iter()
                .find(|s| rest.starts_with(**s))
                .unwrap_or_else(|| panic!("bicep: unexpected character {ch:?}"));
            out.push(Tok::Sym(sym));
            i += sym.len();
        }
    }
    out
}

#[derive(Debug, Clone)]
enum Expr {
    Null,
    Bool(bool),
    Num(i64),
    Str(Vec<SPart>),
    Ident(String),
    Member(Box<Expr>, String, bool),
    Index(Box<Expr>, Box<Expr>),
    Call(String, Vec<Expr>),
    Object(Vec<(Expr, Expr)>),
    Array(Vec<Expr>),
    For {
        item: String,
        index: Option<String>,
        iter: Box<Expr>,
        body: Box<Expr>,
    },
    Ternary(Box<Expr>, Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    Eq(Box<Expr>, Box<Expr>, bool),
    Coalesce(Box<Expr>, Box<Expr>),
}

#[derive(Debug, Clone)]
enum SPart {
    Lit(String),
    Expr(Expr),
}

#[derive(Debug, Clone)]
enum Stmt {
    Param {
        name: String,
        default: Option<Expr>,
        secure: bool,
    },
    Var(String, Expr),
    Resource {
        sym: String,
        ty: String,
        existing: bool,
        value: Expr,
    },
    Module {
        sym: String,
        path: String,
        value: Expr,
    },
    Output(String, Expr),
    ParamValue(String, Expr),
    Other,
}

struct Parser {
    t: Vec<Tok>,
    i: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.t.get(self.i)
    }
    fn next(&mut self) -> Tok {
        let t = self.t[self.i].clone();
        self.i += 1;
        t
    }
    fn is(&self, s: &str) -> bool {
        matches!(self.peek(), Some(Tok::Sym(x)) if *x == s)
    }
    fn is_ident(&self, s: &str) -> bool {
        matches!(self.peek(), Some(Tok::Ident(x)) if x == s)
    }
    fn expect(&mut self, s: &str) {
        match self.next() {
            Tok::Sym(x) if x == s => {}
            other => panic!("bicep: expected {s}, found {other:?} at token {}", self.i),
        }
    }
    fn ident(&mut self) -> String {
        match self.next() {
            Tok::Ident(x) => x,
            other => panic!("bicep: expected a name, found {other:?}"),
        }
    }
    fn string(&mut self) -> String {
        match self.next() {
            Tok::Str(parts) => parts
                .iter()
                .map(|p| match p {
                    Part::Lit(s) => s.clone(),
                    Part::Expr(_) => panic!("bicep: interpolation where a literal is required"),
                })
                .collect(),
            other => panic!("bicep: expected a string, found {other:?}"),
        }
    }

    fn statements(&mut self) -> Vec<Stmt> {
        let mut out = Vec::new();
        let mut secure = false;
        while self.peek().is_some() {
            if self.is("@") {
                self.next();
                let name = self.ident();
                if name == "secure" {
                    secure = true;
                }
                self.expect("(");
                let _ = self.args();
                continue;
            }
            let kw = self.ident();
            let stmt = match kw.as_str() {
                "targetScope" => {
                    self.expect("=");
                    self.expr();
                    Stmt::Other
                }
                "using" => {
                    self.string();
                    Stmt::Other
                }
                "param" => {
                    let name = self.ident();
                    if self.is("=") {
                        self.next();
                        Stmt::ParamValue(name, self.expr())
                    } else {
                        let _ty = self.ident();
                        let default = if self.is("=") {
                            self.next();
                            Some(self.expr())
                        } else {
                            None
                        };
                        Stmt::Param {
                            name,
                            default,
                            secure,
                        }
                    }
                }
                "var" => {
                    let name = self.ident();
                    self.expect("=");
                    Stmt::Var(name, self.expr())
                }
                "resource" => {
                    let sym = self.ident();
                    let ty = self.string();
                    let existing = self.is_ident("existing");
                    if existing {
                        self.next();
                    }
                    self.expect("=");
                    Stmt::Resource {
                        sym,
                        ty,
                        existing,
                        value: self.expr(),
                    }
                }
                "module" => {
                    let sym = self.ident();
                    let path = self.string();
                    self.expect("=");
                    Stmt::Module {
                        sym,
                        path,
                        value: self.expr(),
                    }
                }
                "output" => {
                    let name = self.ident();
                    let _ty = self.ident();
                    self.expect("=");
                    Stmt::Output(name, self.expr())
                }
                other => panic!("bicep: unexpected keyword {other}"),
            };
            secure = false;
            out.push(stmt);
        }
        out
    }

    fn args(&mut self) -> Vec<Expr> {
        let mut a = Vec::new();
        while !self.is(")") {
            a.push(self.expr());
            if self.is(",") {
                self.next();
            }
        }
        self.expect(")");
        a
    }

    fn expr(&mut self) -> Expr {
        let c = self.coalesce();
        if self.is("?") {
            self.next();
            let a = self.expr();
            self.expect(":");
            let b = self.expr();
            return Expr::Ternary(Box::new(c), Box::new(a), Box::new(b));
        }
        c
    }

    fn coalesce(&mut self) -> Expr {
        let mut l = self.equality();
        while self.is("??") {
            self.next();
            let r = self.equality();
            l = Expr::Coalesce(Box::new(l), Box::new(r));
        }
        l
    }

    fn equality(&mut self) -> Expr {
        let mut l = self.unary();
        loop {
            if self.is("==") || self.is("!=") {
                let neg = self.is("!=");
                self.next();
                let r = self.unary();
                l = Expr::Eq(Box::new(l), Box::new(r), neg);
            } else {
                return l;
            }
        }
    }

    fn unary(&mut self) -> Expr {
        if self.is("!") {
            self.next();
            return Expr::Not(Box::new(self.unary()));
        }
        self.postfix()
    }

    fn postfix(&mut self) -> Expr {
        let mut e = self.primary();
        loop {
            if self.is(".") || self.is(".?") || self.is("?.") {
                let safe = !self.is(".");
                self.next();
                let name = self.ident();
                // A resource function such as `db.listKeys()`: a value of
                // the resource, referenced as `listKeys.<property>`.
                if self.is("(") {
                    self.next();
                    self.expect(")");
                }
                e = Expr::Member(Box::new(e), name, safe);
            } else if self.is("[") {
                self.next();
                let idx = self.expr();
                self.expect("]");
                e = Expr::Index(Box::new(e), Box::new(idx));
            } else {
                return e;
            }
        }
    }

    fn primary(&mut self) -> Expr {
        match self.next() {
            Tok::Num(n) => Expr::Num(n),
            Tok::Str(parts) => Expr::Str(
                parts
                    .into_iter()
                    .map(|p| match p {
                        Part::Lit(s) => SPart::Lit(s),
                        Part::Expr(src) => SPart::Expr(parse_expr(&src)),
                    })
                    .collect(),
            ),
            Tok::Ident(n) => match n.as_str() {
                "true" => Expr::Bool(true),
                "false" => Expr::Bool(false),
                "null" => Expr::Null,
                _ if self.is("(") => {
                    self.next();
                    Expr::Call(n, self.args())
                }
                _ => Expr::Ident(n),
            },
            Tok::Sym("(") => {
                let e = self.expr();
                self.expect(")");
                e
            }
            Tok::Sym("{") => {
                let mut fields = Vec::new();
                while !self.is("}") {
                    let key = match self.next() {
                        Tok::Ident(k) => Expr::Str(vec![SPart::Lit(k)]),
                        Tok::Str(parts) => Expr::Str(
                            parts
                                .into_iter()
                                .map(|p| match p {
                                    Part::Lit(s) => SPart::Lit(s),
                                    Part::Expr(src) => SPart::Expr(parse_expr(&src)),
                                })
                                .collect(),
                        ),
                        other => panic!("bicep: bad object key {other:?}"),
                    };
                    self.expect(":");
                    fields.push((key, self.expr()));
                    if self.is(",") {
                        self.next();
                    }
                }
                self.next();
                Expr::Object(fields)
            }
            Tok::Sym("[") => {
                if self.is_ident("for") {
                    self.next();
                    let (item, index) = if self.is("(") {
                        self.next();
                        let a = self.ident();
                        self.expect(",");
                        let b = self.ident();
                        self.expect(")");
                        (a, Some(b))
                    } else {
                        (self.ident(), None)
                    };
                    let kw = self.ident();
                    assert_eq!(kw, "in");
                    let iter = self.expr();
                    self.expect(":");
                    let body = self.expr();
                    self.expect("]");
                    return Expr::For {
                        item,
                        index,
                        iter: Box::new(iter),
                        body: Box::new(body),
                    };
                }
                let mut items = Vec::new();
                while !self.is("]") {
                    items.push(self.expr());
                    if self.is(",") {
                        self.next();
                    }
                }
                self.next();
                Expr::Array(items)
            }
            other => panic!("bicep: unexpected token {other:?}"),
        }
    }
}

fn parse_expr(src: &str) -> Expr {
    let mut p = Parser { t: lex(src), i: 0 };
    let e = p.expr();
    assert!(p.peek().is_none(), "bicep: trailing tokens in {src}");
    e
}

fn parse_file(path: &Path) -> Vec<Stmt> {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    Parser {
        t: lex(&text),
        i: 0,
    }
    .statements()
}

/// Where a file is deployed.
#[derive(Debug, Clone)]
struct Scope {
    sub: String,
    /// None at subscription scope.
    rg: Option<String>,
}

#[derive(Debug)]
struct Unresolved(String);

struct FileEval<'a> {
    dir: PathBuf,
    scope: Scope,
    env: Map<String, Value>,
    locals: Vec<Map<String, Value>>,
    records: &'a mut Vec<Record>,
}

const RID: &str = "__rid";
const RPATH: &str = "__path";
const SCOPE: &str = "__scope";

fn lazy(id: &str, path: &str) -> Value {
    json!({RID: id, RPATH: path})
}

/// Replaces lazy references with their `ref:` strings.
fn finish(v: &Value) -> Value {
    match v {
        Value::Object(o) if o.contains_key(RPATH) => json!(format!(
            "ref:{}:{}",
            o[RID].as_str().unwrap(),
            o[RPATH].as_str().unwrap()
        )),
        Value::Object(o) => Value::Object(o.iter().map(|(k, x)| (k.clone(), finish(x))).collect()),
        Value::Array(a) => Value::Array(a.iter().map(finish).collect()),
        other => other.clone(),
    }
}

fn text(v: &Value) -> String {
    match finish(v) {
        Value::String(s) => s,
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        other => panic!("bicep: cannot interpolate {other}"),
    }
}

impl FileEval<'_> {
    fn lookup(&self, name: &str) -> Result<Value, Unresolved> {
        for l in self.locals.iter().rev() {
            if let Some(v) = l.get(name) {
                return Ok(v.clone());
            }
        }
        self.env
            .get(name)
            .cloned()
            .ok_or_else(|| Unresolved(name.to_string()))
    }

    fn eval(&mut self, e: &Expr) -> Result<Value, Unresolved> {
        Ok(match e {
            Expr::Null => Value::Null,
            Expr::Bool(b) => json!(b),
            Expr::Num(n) => json!(n),
            Expr::Str(parts) => {
                let mut s = String::new();
                for p in parts {
                    match p {
                        SPart::Lit(l) => s.push_str(l),
                        SPart::Expr(x) => {
                            let v = self.eval(x)?;
                            s.push_str(&text(&v));
                        }
                    }
                }
                json!(s)
            }
            Expr::Ident(n) => self.lookup(n)?,
            Expr::Member(base, name, safe) => {
                let b = self.eval(base)?;
                match &b {
                    Value::Object(o) if o.contains_key(RPATH) => lazy(
                        o[RID].as_str().unwrap(),
                        &format!("{}.{name}", o[RPATH].as_str().unwrap()),
                    ),
                    Value::Object(o) => match o.get(name) {
                        Some(v) => v.clone(),
                        None if o.contains_key(RID) => lazy(o[RID].as_str().unwrap(), name),
                        None if *safe => Value::Null,
                        None => panic!("bicep: no property {name} in {b}"),
                    },
                    Value::Null if *safe => Value::Null,
                    other => panic!("bicep: .{name} on {other}"),
                }
            }
            Expr::Index(base, idx) => {
                let b = self.eval(base)?;
                let i = self.eval(idx)?;
                match (&b, &i) {
                    (Value::Array(a), Value::Number(n)) => a[n.as_u64().unwrap() as usize].clone(),
                    (Value::Object(o), Value::String(k)) => o[k].clone(),
                    _ => panic!("bicep: cannot index {b} with {i}"),
                }
            }
            Expr::Call(f, args) => {
                let mut a = Vec::new();
                for x in args {
                    a.push(self.eval(x)?);
                }
                self.call(f, a)
            }
            Expr::Object(fields) => {
                let mut o = Map::new();
                for (k, v) in fields {
                    let key = text(&self.eval(k)?);
                    o.insert(key, self.eval(v)?);
                }
                Value::Object(o)
            }
            Expr::Array(items) => {
                let mut a = Vec::new();
                for x in items {
                    a.push(self.eval(x)?);
                }
                Value::Array(a)
            }
            Expr::For {
                item,
                index,
                iter,
                body,
            } => {
                let items = self.eval(iter)?;
                let mut out = Vec::new();
                for (i, x) in items
                    .as_array()
                    .expect("for over an array")
                    .iter()
                    .enumerate()
                {
                    let mut l = Map::new();
                    l.insert(item.clone(), x.clone());
                    if let Some(ix) = index {
                        l.insert(ix.clone(), json!(i));
                    }
                    self.locals.push(l);
                    let v = self.eval(body);
                    self.locals.pop();
                    out.push(v?);
                }
                Value::Array(out)
            }
            Expr::Ternary(c, a, b) => {
                if self.eval(c)?.as_bool().expect("bool condition") {
                    self.eval(a)?
                } else {
                    self.eval(b)?
                }
            }
            Expr::Not(x) => json!(!self.eval(x)?.as_bool().expect("bool")),
            Expr::Eq(a, b, neg) => {
                let eq = finish(&self.eval(a)?) == finish(&self.eval(b)?);
                json!(eq != *neg)
            }
            Expr::Coalesce(a, b) => {
                let v = self.eval(a)?;
                if v.is_null() {
                    self.eval(b)?
                } else {
                    v
                }
            }
        })
    }

    fn call(&mut self, f: &str, a: Vec<Value>) -> Value {
        let st = |v: &Value| text(v);
        match f {
            "toLower" => json!(st(&a[0]).to_lowercase()),
            "guid" => {
                let ns = uuid::Uuid::parse_str("11fb06fb-712d-4ddd-98c7-e71bbd588830").unwrap();
                let joined: Vec<String> = a.iter().map(st).collect();
                json!(uuid::Uuid::new_v5(&ns, joined.join("-").as_bytes()).to_string())
            }
            "subscriptionResourceId" => json!(format!(
                "/subscriptions/{}/providers/{}/{}",
                self.scope.sub,
                st(&a[0]),
                st(&a[1])
            )),
            "resourceGroup" => json!({SCOPE: {"sub": st(&a[0]), "rg": st(&a[1])}}),
            "loadTextContent" => json!(std::fs::read_to_string(self.dir.join(st(&a[0])))
                .unwrap_or_else(|e| panic!("loadTextContent({}): {e}", st(&a[0])))),
            "loadJsonContent" => {
                let t = std::fs::read_to_string(self.dir.join(st(&a[0]))).unwrap();
                serde_json::from_str(&t).unwrap()
            }
            "string" => match &a[0] {
                Value::String(s) => json!(s),
                other => json!(serde_json::to_string(other).unwrap()),
            },
            "concat" => Value::Array(
                a.iter()
                    .flat_map(|x| x.as_array().expect("concat arrays").clone())
                    .collect(),
            ),
            "empty" => json!(match &a[0] {
                Value::Null => true,
                Value::String(s) => s.is_empty(),
                Value::Array(x) => x.is_empty(),
                Value::Object(x) => x.is_empty(),
                _ => false,
            }),
            "readEnvironmentVariable" => json!("secret"),
            "replace" => json!(st(&a[0]).replace(&st(&a[1]), &st(&a[2]))),
            other => panic!("bicep: function {other} is not modelled"),
        }
    }

    /// Id of a resource declared with `ty` and evaluated body `o`.
    fn resource_id(&self, ty: &str, o: &Map<String, Value>) -> String {
        let name = text(&o["name"]);
        if let Some(parent) = o.get("parent") {
            let last = ty.rsplit('/').next().unwrap();
            return format!(
                "{}/{last}/{name}",
                parent[RID].as_str().expect("parent symbol")
            );
        }
        if let Some(scope) = o.get("scope").and_then(|s| s.get(RID)) {
            return format!("{}/providers/{ty}/{name}", scope.as_str().unwrap());
        }
        if let Some(sc) = o.get("scope").and_then(|s| s.get(SCOPE)) {
            return format!(
                "/subscriptions/{}/resourceGroups/{}/providers/{ty}/{name}",
                text(&sc["sub"]),
                text(&sc["rg"])
            );
        }
        if ty == "Microsoft.Resources/resourceGroups" {
            return format!("/subscriptions/{}/resourceGroups/{name}", self.scope.sub);
        }
        let rg = self
            .scope
            .rg
            .as_ref()
            .expect("resource outside a resource group");
        format!(
            "/subscriptions/{}/resourceGroups/{rg}/providers/{ty}/{name}",
            self.scope.sub
        )
    }

    fn run(&mut self, stmts: &[Stmt], outputs: &mut Map<String, Value>) {
        let mut pending: Vec<&Stmt> = stmts.iter().collect();
        while !pending.is_empty() {
            let mut next = Vec::new();
            let mut last = String::new();
            for st in pending.iter().copied() {
                match self.stmt(st, outputs) {
                    Ok(()) => {}
                    Err(Unresolved(n)) => {
                        last = n;
                        next.push(st);
                    }
                }
            }
            assert!(
                next.len() < pending.len(),
                "bicep evaluation is stuck on `{last}` in {}",
                self.dir.display()
            );
            pending = next;
        }
    }

    fn stmt(&mut self, st: &Stmt, outputs: &mut Map<String, Value>) -> Result<(), Unresolved> {
        match st {
            Stmt::Param { name, default, .. } => {
                if !self.env.contains_key(name) {
                    let v = match default {
                        Some(d) => self.eval(d)?,
                        None => panic!("parameter {name} has no value"),
                    };
                    self.env.insert(name.clone(), v);
                }
            }
            Stmt::Var(name, e) => {
                let v = self.eval(e)?;
                self.env.insert(name.clone(), v);
            }
            Stmt::Resource {
                sym,
                ty,
                existing,
                value,
            } => {
                let (t, version) = ty.split_once('@').expect("type@version");
                let v = self.eval(value)?;
                let instances: Vec<Map<String, Value>> = match v {
                    Value::Array(a) => a
                        .into_iter()
                        .map(|x| x.as_object().unwrap().clone())
                        .collect(),
                    Value::Object(o) => vec![o],
                    other => panic!("resource {sym} is {other}"),
                };
                let mut symbols = Vec::new();
                for o in &instances {
                    let id = self.resource_id(t, o);
                    symbols.push(json!({RID: id, "id": id, "name": o["name"]}));
                    if *existing {
                        continue;
                    }
                    let mut body = o.clone();
                    for k in ["name", "parent", "scope", "dependsOn"] {
                        body.remove(k);
                    }
                    self.records.push(Record {
                        arm_type: t.to_string(),
                        id,
                        api_version: Some(version.to_string()),
                        body: finish(&Value::Object(body)),
                    });
                }
                let symbol = if matches!(value, Expr::For { .. }) {
                    Value::Array(symbols)
                } else {
                    symbols.pop().unwrap()
                };
                self.env.insert(sym.clone(), symbol);
            }
            Stmt::Module { sym, path, value } => {
                let v = self.eval(value)?;
                let instances: Vec<Value> = match v {
                    Value::Array(a) => a,
                    o => vec![o],
                };
                let mut symbols = Vec::new();
                for inst in &instances {
                    let scope = match inst.get("scope") {
                        Some(s) if s.get(SCOPE).is_some() => Scope {
                            sub: text(&s[SCOPE]["sub"]),
                            rg: Some(text(&s[SCOPE]["rg"])),
                        },
                        Some(s) => {
                            let rid = s[RID].as_str().unwrap();
                            Scope {
                                sub: self.scope.sub.clone(),
                                rg: Some(rid.rsplit('/').next().unwrap().to_string()),
                            }
                        }
                        None => self.scope.clone(),
                    };
                    let params = inst
                        .get("params")
                        .and_then(Value::as_object)
                        .cloned()
                        .unwrap_or_default();
                    let file = self.dir.join(path);
                    let outs = evaluate_file(&file, scope, params, self.records);
                    symbols.push(json!({"outputs": outs}));
                }
                let symbol = if matches!(value, Expr::For { .. }) {
                    Value::Array(symbols)
                } else {
                    symbols.pop().unwrap()
                };
                self.env.insert(sym.clone(), symbol);
            }
            Stmt::Output(name, e) => {
                let v = self.eval(e)?;
                outputs.insert(name.clone(), v);
            }
            Stmt::ParamValue(..) | Stmt::Other => {}
        }
        Ok(())
    }
}

fn evaluate_file(
    path: &Path,
    scope: Scope,
    params: Map<String, Value>,
    records: &mut Vec<Record>,
) -> Map<String, Value> {
    let stmts = parse_file(path);
    let mut fe = FileEval {
        dir: path.parent().unwrap().to_path_buf(),
        scope,
        env: params,
        locals: Vec::new(),
        records,
    };
    let mut outputs = Map::new();
    fe.run(&stmts, &mut outputs);
    outputs
}

pub struct Deployment {
    pub records: BTreeMap<String, Record>,
    pub outputs: Map<String, Value>,
    /// Parameters declared `@secure()` in main.bicep.
    pub secure_params: Vec<String>,
    /// Parameter values of main.bicepparam.
    pub param_values: Map<String, Value>,
}

/// Deploys `dir/main.bicep` with `dir/main.bicepparam` into `subscription`
/// on paper.
pub fn evaluate(dir: &Path, subscription: &str) -> Deployment {
    let param_stmts = parse_file(&dir.join("main.bicepparam"));
    let mut dummy = Vec::new();
    let mut pe = FileEval {
        dir: dir.to_path_buf(),
        scope: Scope {
            sub: subscription.into(),
            rg: None,
        },
        env: Map::new(),
        locals: Vec::new(),
        records: &mut dummy,
    };
    let mut params = Map::new();
    for st in &param_stmts {
        if let Stmt::ParamValue(name, e) = st {
            let v = pe.eval(e).unwrap_or_else(|u| panic!("param {name}: {u:?}"));
            params.insert(name.clone(), v);
        }
    }
    let secure_params = parse_file(&dir.join("main.bicep"))
        .into_iter()
        .filter_map(|s| match s {
            Stmt::Param {
                name, secure: true, ..
            } => Some(name),
            _ => None,
        })
        .collect();
    let mut records = Vec::new();
    let outputs = evaluate_file(
        &dir.join("main.bicep"),
        Scope {
            sub: subscription.into(),
            rg: None,
        },
        params.clone(),
        &mut records,
    );
    let mut by_id = BTreeMap::new();
    for r in records {
        if let Some(prev) = by_id.insert(r.id.clone(), r) {
            panic!("two Bicep resources create {}", prev.id);
        }
    }
    Deployment {
        records: by_id,
        outputs: outputs.into_iter().map(|(k, v)| (k, finish(&v))).collect(),
        secure_params,
        param_values: params,
    }
}
