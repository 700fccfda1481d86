//! Command-line definitions (clap) and dispatch. Each subcommand's work lives
//! in `commands/`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};

use crate::azure::AuthMethod;
use crate::commands;
use crate::exit::{self, ExitError};
use crate::output::{ColorChoice, Stream, Style};

const EXIT_CODES: &str = "\
Exit codes (the same for every command):
  0    success; nothing to do
  1    failure (a resource, a template, a declined prompt), or findings and drift
       where the command checks (validate --strict, render --check);
       plan --detailed-exitcode: any error
  2    invalid input or usage: a topology that does not validate, a bad flag,
       no --yes without a terminal; plan --detailed-exitcode: changes to apply
  124  --timeout expired (plan, deploy, destroy)
  130  interrupted by Ctrl-C (deploy, destroy)
  141  stdout or stderr closed early (`| head`): output cut, as for `cat`";

#[derive(Debug, Parser)]
#[command(
    name = "oailb",
    version,
    about = "Smart load balancing for Azure OpenAI behind Azure API Management",
    long_about = "Reads one topology file (regions, priority groups, model deployments), validates it, \
and derives every Azure resource it needs: the APIM load-balancing policy, Terraform, Bicep, or a direct deployment.",
    after_help = EXIT_CODES,
    propagate_version = true
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Topology file (YAML or JSON).
    #[arg(
        short = 'f',
        long = "topology",
        global = true,
        env = "OAILB_TOPOLOGY",
        default_value = "oailb.yaml",
        value_name = "FILE"
    )]
    pub topology: PathBuf,
    /// Print only errors.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Print more detail (repeat for more).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Colour: auto (a terminal and no NO_COLOR), always or never.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto, value_name = "WHEN")]
    pub color: ColorChoice,
}

impl GlobalArgs {
    pub fn style(&self, stream: Stream) -> Style {
        Style {
            color: self.color.enabled(stream),
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write a commented starter topology.
    #[command(after_help = "Example:\n  oailb init -f oailb.yaml")]
    Init(InitArgs),
    /// Check the topology: schema, Azure naming rules, priorities, coverage.
    #[command(
        after_help = "Examples:\n  oailb validate -f examples/seed.yaml\n  oailb validate --format json\n  oailb validate --format sarif > oailb.sarif\n\nExit codes: 0 valid (warnings allowed), 1 warnings with --strict, 2 errors."
    )]
    Validate(ValidateArgs),
    /// Compare the topology with Azure: what deploy would create or change.
    #[command(
        after_help = "Examples:\n  oailb plan -f examples/seed.yaml\n  oailb plan --json --detailed-exitcode\n  oailb plan --offline -f examples/seed.yaml\n\nExit codes: 0 success; with --detailed-exitcode 0 no changes, 2 changes, 1 error."
    )]
    Plan(PlanArgs),
    /// Create or update every Azure resource of the topology.
    #[command(
        after_help = "Examples:\n  oailb deploy -f examples/seed.yaml\n  oailb deploy --yes --json\n\nExit codes: 0 deployed (or nothing to do), 1 failed, 2 invalid input, 130 interrupted."
    )]
    Deploy(DeployArgs),
    /// Delete the Azure resources the topology manages.
    #[command(
        after_help = "Examples:\n  oailb destroy -f examples/seed.yaml\n  oailb destroy --yes --purge-soft-deleted\n\nExit codes: 0 deleted (or nothing to delete), 1 failed, 2 invalid input, 130 interrupted."
    )]
    Destroy(DestroyArgs),
    /// Write Terraform and/or Bicep for the whole setup into a directory.
    #[command(
        after_help = "Examples:\n  oailb render terraform -f examples/seed.yaml --out infra/\n  oailb render bicep --out infra/ --mode pool\n  oailb render all --out infra/ --check      # CI: exit 1 with a diff when infra/ is stale\n  oailb render terraform --out infra/ --templates my-templates/   # my-templates/templates/terraform/*.tera\n\nExit codes: 0 written (or up to date with --check), 1 drift with --check or a failed render, 2 invalid topology or usage."
    )]
    Render(RenderArgs),
    /// Write the APIM load-balancing policy XML of one API (stdout by default).
    #[command(
        name = "render-policy",
        after_help = "Examples:\n  oailb render-policy -f examples/seed.yaml > policy.xml\n  oailb render-policy --mode pool --api openai -o policy.xml\n  oailb render-policy -f examples/teams.yaml --product tier-standard\n  oailb render-policy --templates my-templates/   # my-templates/policies/policy-mode.xml.tera\n\nExit codes: 0 written, 1 rendering or writing failed, 2 invalid topology or usage."
    )]
    RenderPolicy(RenderPolicyArgs),
    /// Run the load balancer as a local or self-hosted gateway.
    #[command(
        after_help = "Examples:\n  oailb serve -f examples/seed.yaml --upstream eastus=http://127.0.0.1:9001\n  oailb serve --listen 0.0.0.0:8080 --state redis://redis:6379/0\n\nSIGTERM or Ctrl-C: stop accepting, finish in-flight requests (serve.shutdown_grace_seconds), exit 0.\nSIGHUP (or --watch): re-read the topology; an invalid one is reported and the old one stays.\n\nExit codes: 0 stopped, 1 failed (e.g. the address is taken), 2 invalid topology or usage."
    )]
    Serve(ServeArgs),
    /// Simulate traffic through the topology: what clients see and what it costs.
    #[command(
        after_help = "Examples:\n  oailb simulate -f examples/ptu-spillover.yaml --workload examples/simulate/workload.yaml\n  oailb simulate --workload w.yaml --strategy oailb,ideal --format markdown --plot load.svg\n  oailb simulate --trace requests.csv --instances 3 --shared-state --format json\n  oailb simulate -f examples/multi-region.yaml --workload examples/simulate/multi-region-workload.yaml --state region\n  oailb simulate --workload w.yaml --sweep capacity=sweden-ptu:10..200 --target 99.9\n\nExit codes: 0 simulated, 1 a file could not be written, 2 invalid topology, workload, trace or usage."
    )]
    Simulate(SimulateArgs),
    /// Tokens, requests and cost per consumer, deployment or backend, from Log Analytics.
    #[command(
        after_help = "Examples:\n  oailb usage -f examples/teams.yaml\n  oailb usage --since 30d --by deployment --format markdown\n  oailb usage --show-query          # the KQL, for your own tools; reads nothing\n\nExit codes: 0 reported, 1 Azure could not be read, 2 invalid topology or usage, 124 --timeout expired."
    )]
    Usage(UsageArgs),
    /// Print a shell completion script.
    #[command(after_help = "Example:\n  oailb completions bash > /etc/bash_completion.d/oailb")]
    Completions(CompletionsArgs),
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Overwrite an existing file.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    /// Readable text.
    Human,
    /// One JSON document (schema_version 1).
    Json,
    /// SARIF 2.1.0, for code scanning (GitHub, Azure DevOps).
    Sarif,
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    #[arg(long, value_enum, default_value_t = ReportFormat::Human)]
    pub format: ReportFormat,
    /// Same as --format json.
    #[arg(long, conflicts_with = "format")]
    pub json: bool,
    /// Treat warnings as findings (exit 1).
    #[arg(long)]
    pub strict: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PlanFormat {
    /// A table for people.
    Table,
    /// One JSON document (schema_version 1).
    Json,
    /// A Markdown summary for a pull-request comment or CI job summary.
    Markdown,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Do not contact Azure: list every resource as to be created.
    #[arg(long)]
    pub offline: bool,
    #[arg(long, value_enum, default_value_t = PlanFormat::Table)]
    pub format: PlanFormat,
    /// Same as --format json.
    #[arg(long, conflicts_with = "format")]
    pub json: bool,
    /// Exit 0 when there is nothing to change, 2 when there is, 1 on error.
    #[arg(long, conflicts_with = "offline")]
    pub detailed_exitcode: bool,
    #[command(flatten)]
    pub arm: ArmArgs,
}

/// How to reach Azure Resource Manager (plan, deploy, destroy).
#[derive(Debug, Args)]
pub struct ArmArgs {
    /// Subscription id (else the topology's, AZURE_SUBSCRIPTION_ID, or the Azure CLI's default).
    #[arg(long, value_name = "ID")]
    pub subscription: Option<String>,
    /// Credential source.
    #[arg(long, value_enum, env = "OAILB_AUTH", default_value_t = AuthMethod::Default)]
    pub auth: AuthMethod,
    /// Azure cloud (default: the topology's `cloud`).
    #[arg(long, value_enum, value_name = "CLOUD")]
    pub cloud: Option<CloudArg>,
    /// ARM endpoint URL instead of the cloud's (https; plain http only on loopback).
    #[arg(long, env = "OAILB_ARM_ENDPOINT", value_name = "URL")]
    pub arm_endpoint: Option<String>,
    /// OAuth scope of the ARM token (default: the cloud's ARM scope).
    #[arg(long, env = "OAILB_TOKEN_SCOPE", value_name = "SCOPE")]
    pub token_scope: Option<String>,
    /// Use FILE as the policy XML of API instead of the one render-policy makes (repeatable).
    #[arg(long = "policy-file", value_name = "API=FILE")]
    pub policy_files: Vec<String>,
    /// Resources read or written at the same time.
    #[arg(long, default_value_t = crate::deploy::DEFAULT_CONCURRENCY, value_parser = clap::value_parser!(u16).range(1..=64), value_name = "N")]
    pub concurrency: u16,
    /// Bound on the whole command, e.g. `90m`, `1h30m`, `600` (seconds); when it
    /// expires no new work starts and oailb exits 124 (what Azure is already doing continues).
    #[arg(long, env = "OAILB_TIMEOUT", value_parser = parse_timeout, value_name = "DURATION")]
    pub timeout: Option<std::time::Duration>,
    /// First retry backoff in milliseconds (tests shorten it).
    #[arg(long, hide = true, env = "OAILB_BACKOFF_BASE_MS")]
    pub backoff_base_ms: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CloudArg {
    #[value(name = "AzureCloud")]
    AzureCloud,
    #[value(name = "AzureUSGovernment")]
    AzureUSGovernment,
    #[value(name = "AzureChinaCloud")]
    AzureChinaCloud,
}

impl CloudArg {
    pub fn cloud(self) -> crate::topology::Cloud {
        match self {
            CloudArg::AzureCloud => crate::topology::Cloud::AzureCloud,
            CloudArg::AzureUSGovernment => crate::topology::Cloud::AzureUSGovernment,
            CloudArg::AzureChinaCloud => crate::topology::Cloud::AzureChinaCloud,
        }
    }
}

#[derive(Debug, Args)]
pub struct DeployArgs {
    #[command(flatten)]
    pub arm: ArmArgs,
    /// Do not ask for confirmation (required without a terminal).
    #[arg(short, long)]
    pub yes: bool,
    /// JSON event lines on stdout instead of progress text.
    #[arg(long)]
    pub json: bool,
    /// Print the gateway subscription key at the end.
    #[arg(long)]
    pub show_secrets: bool,
    /// Recover soft-deleted accounts or APIM services that hold a name.
    #[arg(long, conflicts_with = "purge_soft_deleted")]
    pub restore_soft_deleted: bool,
    /// Purge soft-deleted accounts or APIM services that hold a name, then create new ones.
    #[arg(long)]
    pub purge_soft_deleted: bool,
}

#[derive(Debug, Args)]
pub struct DestroyArgs {
    #[command(flatten)]
    pub arm: ArmArgs,
    /// Do not ask for confirmation (required without a terminal).
    #[arg(short, long)]
    pub yes: bool,
    /// JSON event lines on stdout instead of progress text.
    #[arg(long)]
    pub json: bool,
    /// Also purge the soft-deleted accounts and APIM service (names free at once, no recovery).
    #[arg(long)]
    pub purge_soft_deleted: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RenderTarget {
    /// Terraform (azurerm 4.x; azapi where azurerm has no support).
    Terraform,
    /// Bicep (main.bicep, modules and a .bicepparam file).
    Bicep,
    /// Both, into DIR/terraform and DIR/bicep.
    All,
}

impl RenderTarget {
    pub fn as_str(self) -> &'static str {
        match self {
            RenderTarget::Terraform => "terraform",
            RenderTarget::Bicep => "bicep",
            RenderTarget::All => "all",
        }
    }
}

#[derive(Debug, Args)]
pub struct RenderArgs {
    #[arg(value_enum)]
    pub target: RenderTarget,
    /// Output directory (created if missing; files oailb did not write are left alone).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Write nothing; exit 1 with a unified diff when DIR differs from the rendering.
    #[arg(long)]
    pub check: bool,
    /// Load-balancing mode; default the topology's `load_balancing.mode`.
    #[arg(long, value_enum, value_name = "MODE")]
    pub mode: Option<PolicyMode>,
    /// Directory whose `templates/...` and `policies/...` files replace the embedded templates.
    #[arg(long, value_name = "DIR")]
    pub templates: Option<PathBuf>,
    /// `json`: a report of the files (and the diff with --check) on stdout.
    #[arg(long, value_enum, default_value_t = ReportFormat::Human)]
    pub format: ReportFormat,
    /// Same as --format json.
    #[arg(long, conflicts_with = "format")]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct RenderPolicyArgs {
    /// Load-balancing mode; default the topology's `load_balancing.mode`.
    #[arg(long, value_enum, value_name = "MODE")]
    pub mode: Option<PolicyMode>,
    /// API to render; needed only when the topology has several.
    #[arg(long, value_name = "NAME")]
    pub api: Option<String>,
    /// Render the policy of this consumers' product instead (its limits and authentication).
    #[arg(long, value_name = "PRODUCT", conflicts_with = "api")]
    pub product: Option<String>,
    /// Write to FILE (atomically, replacing it) instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Directory whose `policies/*.xml.tera` files replace the embedded templates.
    #[arg(long, value_name = "DIR")]
    pub templates: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum UsageFormat {
    /// An aligned table for people.
    Table,
    /// One JSON document (schema_version 1).
    Json,
    /// A Markdown table for a report or a pull request.
    Markdown,
    /// Comma-separated values, one line per key and a total.
    Csv,
}

#[derive(Debug, Args)]
pub struct UsageArgs {
    /// How far back: e.g. 7d, 24h, 90m, 2w.
    #[arg(long, default_value = "7d", value_parser = parse_since, value_name = "PERIOD")]
    pub since: crate::usage::Since,
    /// What one line of the report is.
    #[arg(long, value_enum, default_value_t = crate::usage::By::Consumer)]
    pub by: crate::usage::By,
    #[arg(long, value_enum, default_value_t = UsageFormat::Table)]
    pub format: UsageFormat,
    /// Same as --format json.
    #[arg(long, conflicts_with = "format")]
    pub json: bool,
    /// Print the Log Analytics (KQL) query and exit: nothing is read from Azure.
    #[arg(long)]
    pub show_query: bool,
    /// Log Analytics query API instead of the cloud's (https; plain http only on loopback).
    #[arg(long, env = "OAILB_LOGS_ENDPOINT", value_name = "URL")]
    pub logs_endpoint: Option<String>,
    #[command(flatten)]
    pub arm: ArmArgs,
}

fn parse_since(v: &str) -> Result<crate::usage::Since, String> {
    crate::usage::Since::parse(v)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PolicyMode {
    /// Expression-based balancing in the policy (every tier with a cache).
    Policy,
    /// APIM native backend pools with circuit breakers.
    Pool,
}

impl From<PolicyMode> for crate::topology::Mode {
    fn from(m: PolicyMode) -> Self {
        match m {
            PolicyMode::Policy => crate::topology::Mode::Policy,
            PolicyMode::Pool => crate::topology::Mode::Pool,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SimulateFormat {
    /// The strategies side by side, for people.
    Table,
    /// One JSON document (schema_version 1, docs/schemas/simulate.v1.json).
    Json,
    /// A Markdown table for a pull-request comment or CI job summary.
    Markdown,
}

#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// Workload file (YAML or JSON): load per deployment, latency, faults.
    #[arg(
        long,
        value_name = "FILE",
        required_unless_present = "trace",
        conflicts_with = "trace"
    )]
    pub workload: Option<PathBuf>,
    /// Trace to replay: CSV or JSON lines of timestamp, deployment, prompt_tokens, max_tokens[, completion_tokens].
    #[arg(long, value_name = "FILE")]
    pub trace: Option<PathBuf>,
    /// Strategies to compare on the same arrivals (comma-separated).
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = crate::simulate::StrategyKind::ALL, value_name = "LIST")]
    pub strategy: Vec<crate::simulate::StrategyKind>,
    /// Gateway instances in each gateway region; a region's requests go to its instances in turn.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=256), value_name = "N")]
    pub instances: u16,
    /// Which gateways share balancer state (default: shared with an external cache, one per region with a cache per region, else one per instance).
    #[arg(long, value_enum, value_name = "SCOPE")]
    pub state: Option<crate::simulate::StateScope>,
    /// Same as --state shared: every instance shares one state (an external cache).
    #[arg(long, conflicts_with = "state")]
    pub shared_state: bool,
    /// Seed of every random draw (default: the workload's `seed`, else 1).
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
    #[arg(long, value_enum, default_value_t = SimulateFormat::Table)]
    pub format: SimulateFormat,
    /// Same as --format json.
    #[arg(long, conflicts_with = "format")]
    pub json: bool,
    /// Write an SVG of tokens/s served per backend over time, stacked by priority, with demand and client 429s.
    #[arg(long, value_name = "FILE.svg")]
    pub plot: Option<PathBuf>,
    /// Find the smallest capacity of one backend that meets --target success.
    #[arg(long, value_name = "capacity=BACKEND[/DEPLOYMENT]:MIN..MAX")]
    pub sweep: Option<crate::simulate::sweep::SweepSpec>,
    /// Success rate (percent) the sweep must reach.
    #[arg(long, default_value_t = 99.9, requires = "sweep", value_parser = parse_percent, value_name = "PERCENT")]
    pub target: f64,
}

fn parse_percent(v: &str) -> Result<f64, String> {
    match v.trim().trim_end_matches('%').parse::<f64>() {
        Ok(p) if (0.0..=100.0).contains(&p) => Ok(p),
        _ => Err(format!("`{v}` is not a percentage between 0 and 100")),
    }
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on (default: serve.listen, else 127.0.0.1:8080).
    #[arg(long, env = "OAILB_LISTEN", value_name = "ADDR:PORT")]
    pub listen: Option<String>,
    /// Send backend NAME's traffic to URL instead of its endpoint (repeatable; plain http only on loopback).
    #[arg(long = "upstream", value_name = "NAME=URL", value_parser = crate::serve::config::parse_upstream)]
    pub upstreams: Vec<(String, url::Url)>,
    /// Balancer state: `memory` or `redis://[:PASSWORD@]HOST:PORT/DB` (default: serve.state).
    #[arg(long, env = "OAILB_STATE", value_name = "URL", hide_env_values = true)]
    pub state: Option<String>,
    /// Serve only this API (default: every API of the topology).
    #[arg(long, value_name = "NAME")]
    pub api: Option<String>,
    /// Credential source for managed-identity backends and Key Vault secrets.
    #[arg(long, value_enum, env = "OAILB_AUTH", default_value_t = AuthMethod::Default)]
    pub auth: AuthMethod,
    /// Region this gateway runs in (e.g. eastus2): with load_balancing.prefer_nearby, nearby backends come first.
    #[arg(long, env = "OAILB_REGION", value_name = "REGION")]
    pub region: Option<String>,
    /// Re-read the topology whenever the file changes (as on SIGHUP).
    #[arg(long)]
    pub watch: bool,
    /// Allow a non-loopback listen address without serve.client_keys.
    #[arg(long)]
    pub insecure_no_auth: bool,
    /// Key Vault endpoint replacing the vaults' (a private endpoint; plain http only on loopback).
    #[arg(
        long,
        hide = true,
        env = "OAILB_KEY_VAULT_ENDPOINT",
        value_name = "URL"
    )]
    pub key_vault_endpoint: Option<String>,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    pub shell: clap_complete::Shell,
}

/// `600` (seconds) or a duration such as `90m`, `1h30m`, `45s`.
fn parse_timeout(v: &str) -> Result<std::time::Duration, String> {
    let v = v.trim();
    let ms = if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) {
        v.parse::<f64>().ok().map(|s| s * 1000.0)
    } else {
        crate::balancer::parse_duration_ms(v)
    };
    match ms {
        Some(ms) if ms >= 1000.0 && ms.is_finite() && ms <= 7.0 * 86_400_000.0 => {
            Ok(std::time::Duration::from_millis(ms as u64))
        }
        Some(_) => Err("must be between 1 second and 7 days".into()),
        None => Err(format!("`{v}` is not a duration (e.g. 90m, 1h30m, 600)")),
    }
}

pub fn main() -> ExitCode {
    crate::closed_output::install();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // clap prints help/version (exit 0) and usage errors (exit 2).
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() {
                exit::INVALID
            } else {
                exit::OK
            });
        }
    };
    match run(&cli) {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            let style = cli.global.style(Stream::Stderr);
            let code = err
                .downcast_ref::<ExitError>()
                .map_or(exit::FAILURE, |e| e.code);
            eprintln!("{} {err:#}", style.red(&style.bold("error:")));
            ExitCode::from(code)
        }
    }
}

pub fn run(cli: &Cli) -> anyhow::Result<u8> {
    let g = &cli.global;
    match &cli.command {
        Command::Init(a) => commands::init::run(g, a),
        Command::Validate(a) => commands::validate::run(g, a),
        Command::Plan(a) => commands::plan::run(g, a),
        Command::Deploy(a) => commands::deploy::run(g, a),
        Command::Destroy(a) => commands::destroy::run(g, a),
        Command::Render(a) => commands::render::run(g, a),
        Command::RenderPolicy(a) => commands::render_policy::run(g, a),
        Command::Serve(a) => commands::serve::run(g, a),
        Command::Usage(a) => commands::usage::run(g, a),
        Command::Simulate(a) => commands::simulate::run(g, a),
        Command::Completions(a) => {
            clap_complete::generate(
                a.shell,
                &mut Cli::command(),
                "oailb",
                &mut std::io::stdout(),
            );
            Ok(exit::OK)
        }
    }
}
