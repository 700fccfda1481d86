//! The pipeline examples in examples/ci/ cannot rot: every oailb step they
//! run is `examples/ci/oailb-ci.sh <stage>`, and this test reads those steps
//! (and their environment) out of both YAML files and runs them, in order,
//! against the fake ARM: pull request, deploy on main, the next pull request,
//! and a pull request whose committed Terraform/Bicep is stale.
//!
//! The one deliberate difference from a real pipeline: OAILB_AUTH `cli`
//! (after azure/login or AzureCLI@2) becomes `token`, because the fake ARM
//! accepts its own bearer token, not an Azure CLI login.

mod fake_arm;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;

use fake_arm::{Config, FakeArm, TOKEN};
use serde_json::Value;

const SUB: &str = "00000000-0000-0000-0000-000000000001";
const PARTNER_KEY: &str = "partner-secret-key-value";
const SCRIPT: &str = "examples/ci/oailb-ci.sh";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// One step that runs the shared script.
#[derive(Debug, Clone)]
struct Step {
    stage: String,
    env: BTreeMap<String, String>,
}

fn load_yaml(name: &str) -> Value {
    let text = std::fs::read_to_string(root().join("examples/ci").join(name)).unwrap();
    oailb::topology::source::load(&text)
        .unwrap_or_else(|d| panic!("{name} is not valid YAML: {}", d.message))
        .0
}

fn string_map(v: Option<&Value>) -> BTreeMap<String, String> {
    v.and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| {
                    let s = match v {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    (k.clone(), s)
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Every map in the document that looks like a step, depth first, with the
/// environment inherited from the maps above it (workflow, job).
fn steps(
    v: &Value,
    inherited: &BTreeMap<String, String>,
    out: &mut Vec<(Value, BTreeMap<String, String>)>,
) {
    match v {
        Value::Object(m) => {
            let mut env = inherited.clone();
            if !m.contains_key("run") && !m.contains_key("script") && !m.contains_key("task") {
                // Workflow/job level: `env` (GitHub) or `variables` (Azure).
                env.extend(string_map(m.get("env")));
                if m.get("variables").is_some_and(Value::is_object) {
                    env.extend(string_map(m.get("variables")));
                }
            } else {
                out.push((v.clone(), env.clone()));
            }
            for child in m.values() {
                steps(child, &env, out);
            }
        }
        Value::Array(items) => items.iter().for_each(|i| steps(i, inherited, out)),
        _ => {}
    }
}

/// The oailb-ci.sh invocations of one pipeline file, in file order. Fails
/// when any other step calls oailb directly.
fn script_steps(file: &str) -> Vec<Step> {
    let mut found = Vec::new();
    steps(&load_yaml(file), &BTreeMap::new(), &mut found);
    let mut out = Vec::new();
    for (step, inherited) in found {
        let mut env = inherited;
        env.extend(string_map(step.get("env")));
        let command = step
            .get("run")
            .or_else(|| step.get("script"))
            .and_then(Value::as_str)
            .map(str::to_string);
        let inputs = step.get("inputs");
        let script_path = inputs
            .and_then(|i| i.get("scriptPath"))
            .and_then(Value::as_str);
        let stage = match (command.as_deref(), script_path) {
            (_, Some(path)) => {
                assert_eq!(path, SCRIPT, "{file}: AzureCLI@2 runs {path}");
                inputs
                    .and_then(|i| i.get("arguments"))
                    .and_then(Value::as_str)
                    .map(str::to_string)
            }
            (Some(cmd), None) if cmd.contains("oailb-ci.sh") => {
                let rest = cmd
                    .trim()
                    .strip_prefix(SCRIPT)
                    .unwrap_or_else(|| panic!("{file}: `{cmd}` does not start with {SCRIPT}"));
                Some(rest.trim().to_string())
            }
            (Some(cmd), None) => {
                let calls_oailb =
                    cmd.split_whitespace().any(|w| w == "oailb") && !cmd.contains("cargo install");
                assert!(
                    !calls_oailb,
                    "{file}: `{cmd}` runs oailb directly; use {SCRIPT} so the test covers it"
                );
                None
            }
            (None, None) => None,
        };
        if let Some(stage) = stage {
            out.push(Step { stage, env });
        }
    }
    out
}

/// A pipeline run: the fake ARM, a repository checkout with oailb.yaml and
/// committed infra/, and a staging directory for artifacts.
struct Pipeline {
    fake: FakeArm,
    repo: tempfile::TempDir,
    staging: PathBuf,
}

impl Pipeline {
    fn new() -> Pipeline {
        let fake = FakeArm::start(Config::default());
        let repo = tempfile::tempdir().unwrap();
        let staging = repo.path().join("staging");
        std::fs::create_dir(&staging).unwrap();
        std::fs::copy(
            root().join("examples/multi-model.yaml"),
            repo.path().join("oailb.yaml"),
        )
        .unwrap();
        let p = Pipeline {
            fake,
            repo,
            staging,
        };
        // The repository commits its rendered Terraform/Bicep.
        let out = p.oailb(&["render", "all", "-q", "--out", "infra"]);
        assert!(out.status.success(), "{}", text(&out));
        p
    }

    fn oailb(&self, args: &[&str]) -> Output {
        std::process::Command::new(assert_cmd::cargo::cargo_bin("oailb"))
            .current_dir(self.repo.path())
            .env("OAILB_TOPOLOGY", "oailb.yaml")
            .args(args)
            .output()
            .unwrap()
    }

    /// Runs the script for one step with the step's environment, resolved
    /// the way the CI system would.
    fn run(&self, step: &Step, summary: &Path) -> Output {
        let mut c = std::process::Command::new(root().join(SCRIPT));
        c.current_dir(self.repo.path())
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.repo.path())
            .env("NO_COLOR", "1")
            .env("OAILB_BIN", assert_cmd::cargo::cargo_bin("oailb"))
            .env("GITHUB_STEP_SUMMARY", summary)
            // What azure/login / AzureCLI@2 provide, for the fake.
            .env("AZURE_SUBSCRIPTION_ID", SUB)
            .env("OAILB_ARM_ENDPOINT", &self.fake.url)
            .env("OAILB_ACCESS_TOKEN", TOKEN)
            .arg(&step.stage);
        for (k, v) in &step.env {
            let v = if k == "OAILB_AUTH" {
                assert_eq!(v, "cli", "pipelines log in with the Azure CLI");
                "token".to_string()
            } else {
                self.resolve(v)
            };
            c.env(k, v);
        }
        c.output().unwrap()
    }

    fn resolve(&self, v: &str) -> String {
        let staging = self.staging.display().to_string();
        v.replace("$(Build.ArtifactStagingDirectory)", &staging)
            .replace("${{ vars.AZURE_SUBSCRIPTION_ID }}", SUB)
            .replace("${{ secrets.PARTNER_OPENAI_KEY }}", PARTNER_KEY)
            .replace("$(PARTNER_OPENAI_KEY)", PARTNER_KEY)
    }

    fn file(&self, env: &BTreeMap<String, String>, var: &str, default: &str) -> PathBuf {
        let rel = env
            .get(var)
            .map(|v| self.resolve(v))
            .unwrap_or_else(|| default.to_string());
        self.repo.path().join(rel)
    }
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn stage<'a>(steps: &'a [Step], name: &str, file: &str) -> &'a Step {
    steps
        .iter()
        .find(|s| s.stage == name)
        .unwrap_or_else(|| panic!("{file} has no `{name}` step"))
}

fn run_pipeline(file: &str) {
    let steps = script_steps(file);
    let check = stage(&steps, "check", file);
    let deploy = stage(&steps, "deploy", file);
    assert_eq!(steps.len(), 2, "{file}: {steps:?}");
    assert_eq!(
        check.env.get("OAILB_AUTH").map(String::as_str),
        Some("cli"),
        "{file}"
    );
    assert_eq!(
        deploy.env.get("OAILB_TIMEOUT").map(String::as_str),
        Some("90m"),
        "{file}"
    );

    let p = Pipeline::new();
    let summary = p.staging.join("summary.md");

    // Pull request: valid, infra in step, plan shows what to create.
    let out = p.run(check, &summary);
    assert!(out.status.success(), "{file} check: {}", text(&out));
    let sarif: Value = serde_json::from_slice(
        &std::fs::read(p.file(&check.env, "OAILB_SARIF", "oailb.sarif")).unwrap(),
    )
    .unwrap();
    assert_eq!(sarif["version"], "2.1.0");
    let plan =
        std::fs::read_to_string(p.file(&check.env, "OAILB_PLAN_MD", "oailb-plan.md")).unwrap();
    assert!(plan.starts_with("## oailb plan"), "{plan}");
    assert!(plan.contains("to create"), "{plan}");
    if file.starts_with("github") {
        assert!(std::fs::read_to_string(&summary)
            .unwrap()
            .contains("## oailb plan"));
    }
    assert!(p.fake.writes().is_empty(), "check wrote to Azure");

    // Main branch: unattended deploy with JSON events.
    let out = p.run(deploy, &summary);
    assert!(out.status.success(), "{file} deploy: {}", text(&out));
    assert!(
        !text(&out).contains(PARTNER_KEY),
        "a secret reached the log"
    );
    let events_file = p.file(&deploy.env, "OAILB_EVENTS", "oailb-deploy.jsonl");
    let events: Vec<Value> = std::fs::read_to_string(&events_file)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let summary_event = events
        .iter()
        .find(|e| e["event"] == "summary")
        .expect("a summary event");
    assert_eq!(summary_event["ok"], true, "{summary_event}");
    assert_eq!(events.last().unwrap()["event"], "outputs");

    // The next pull request: nothing to change.
    let out = p.run(check, &summary);
    assert!(out.status.success(), "{file} second check: {}", text(&out));
    let plan =
        std::fs::read_to_string(p.file(&check.env, "OAILB_PLAN_MD", "oailb-plan.md")).unwrap();
    assert!(plan.contains("**No changes.**"), "{plan}");

    // A pull request that edits the topology but not the committed infra.
    let topo = p.repo.path().join("oailb.yaml");
    let edited = std::fs::read_to_string(&topo).unwrap().replacen(
        "    capacity: 100",
        "    capacity: 90",
        1,
    );
    std::fs::write(&topo, edited).unwrap();
    let out = p.run(check, &summary);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{file} stale infra: {}",
        text(&out)
    );
    assert!(
        text(&out).contains("differs from what `oailb render` writes"),
        "{}",
        text(&out)
    );

    // An invalid topology fails the pull request with exit 2, and code
    // scanning still gets the findings.
    std::fs::write(&topo, "resource_group: rg\n").unwrap();
    let out = p.run(check, &summary);
    assert_eq!(out.status.code(), Some(2), "{file} invalid: {}", text(&out));
    let sarif: Value = serde_json::from_slice(
        &std::fs::read(p.file(&check.env, "OAILB_SARIF", "oailb.sarif")).unwrap(),
    )
    .unwrap();
    assert!(!sarif["runs"][0]["results"].as_array().unwrap().is_empty());
}

#[test]
fn github_actions_example_runs_against_the_fake_arm() {
    run_pipeline("github-actions.yml");
}

#[test]
fn azure_pipelines_example_runs_against_the_fake_arm() {
    run_pipeline("azure-pipelines.yml");
}

#[test]
fn the_script_rejects_an_unknown_stage() {
    let out = std::process::Command::new(root().join(SCRIPT))
        .arg("apply")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("usage"));
}

/// CI must not pass without the independent validators: with `CI=true` (as
/// .ci/run sets it) a missing validators directory fails the script before
/// it builds anything; elsewhere it is skipped with a notice.
#[test]
fn validators_script_fails_in_ci_when_the_validators_are_missing() {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/validators.sh");
    let run = |ci: Option<&str>| {
        let mut c = std::process::Command::new("bash");
        c.arg(script)
            .env("OAILB_VALIDATORS", "/nonexistent/oailb-validators")
            .env_remove("CI");
        if let Some(v) = ci {
            c.env("CI", v);
        }
        c.output().unwrap()
    };
    let ci = run(Some("true"));
    assert_eq!(ci.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&ci.stderr).contains("CI=true requires them"));
    let local = run(None);
    assert_eq!(local.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&local.stderr).contains("skipped"));
    let ci_script =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/.ci/run")).unwrap();
    assert!(ci_script.contains("export CI=true"), "{ci_script}");
}
