//! The `sgsync` binary: the operator CLI, and the Lambda function when started by a Lambda runtime
//! (`AWS_LAMBDA_RUNTIME_API` set) or as `sgsync lambda`. One binary for both roles, so what an operator
//! runs is what the function runs.

// The futures of a run nest the AWS SDK's deeply; computing their layout needs more than the default.
#![recursion_limit = "256"]

use std::error::Error;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};
use tracing_subscriber::EnvFilter;

use serde::Serialize;
use sgsync::config::{
    Config, ConfigArgs, Environment, FleetLocation, RangesFlags, StatusFlags, SyncFlags,
};
use sgsync::fleet::{self, Fleet};
use sgsync::report::{
    FleetStatusReport, FleetSummary, RangesReport, Sizing, StatusReport, Summary,
};
use sgsync::{Clients, Input, Mode, event, source};

/// Keep AWS allow-lists (security groups, prefix lists, WAF IP sets) holding exactly the IP ranges
/// Amazon publishes for a service, CloudFront by default.
///
/// Settings come from flags or from environment variables of the flags' value names (the names of
/// the AWS blog's Python function). The AWS endpoint, credentials and region come from the SDK's
/// standard chain (AWS_ENDPOINT_URL, AWS_PROFILE, ...).
#[derive(Parser, Debug)]
#[command(name = "sgsync", version, about, long_about = None, after_help = MORE)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// text or json [text]
    #[arg(long, value_enum, default_value_t = Output::Text, global = true, hide_possible_values = true, hide_default_value = true)]
    output: Output,
}

/// What every help ends with.
const MORE: &str = "Every flag is also an environment variable (--vpc-id: VPC_ID). `sgsync man` lists every \
setting, the advanced ones too; logs go to stderr, their filter is SGSYNC_LOG (e.g. SGSYNC_LOG=sgsync=debug).";

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
enum Output {
    Text,
    Json,
}

/// Where `plan` and `apply` take the document from. With neither flag: the configured IP_RANGES_URL.
#[derive(Args, Debug)]
struct DocumentArgs {
    /// A Lambda event (JSON), processed as the function would
    #[arg(long, value_name = "FILE", conflicts_with_all = ["ip_ranges", "md5"])]
    event: Option<PathBuf>,
    /// The document: a file or an http(s) URL
    #[arg(long, value_name = "FILE_OR_URL")]
    ip_ranges: Option<String>,
    /// The MD5 the document must have (hex)
    #[arg(long, value_name = "HEX", requires = "ip_ranges")]
    md5: Option<String>,
    /// Apply what a guard refuses as large or old
    #[arg(long)]
    force: bool,
    /// Pack the rules tightly, make before break
    #[arg(long)]
    repack: bool,
    /// Exit 2 with changes, 0 without, 1 on any error
    #[arg(long)]
    detailed_exitcode: bool,
    #[command(flatten)]
    settings: SyncFlags,
}

/// `plan`: the document, and where to write the plan for approval.
#[derive(Args, Debug)]
struct PlanArgs {
    #[command(flatten)]
    doc: DocumentArgs,
    /// Write the plan, to review and then apply with apply --plan
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
}

/// `apply`: the document, or an approved plan.
#[derive(Args, Debug)]
struct ApplyArgs {
    #[command(flatten)]
    doc: DocumentArgs,
    /// Apply exactly this plan (plan --out), or nothing
    #[arg(long, value_name = "FILE", conflicts_with_all = ["event", "ip_ranges", "md5", "force", "repack"])]
    plan: Option<PathBuf>,
    /// Do not ask before applying on a terminal
    #[arg(long, short = 'y')]
    yes: bool,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Show what a document yields for the selection: its CIDRs, the rules and groups they need, and what would not fit. Reads no AWS.
    #[command(after_help = RANGES_EXAMPLES)]
    Ranges {
        /// A file or an http(s) URL [IP_RANGES_URL]
        #[arg(long, value_name = "FILE_OR_URL")]
        ip_ranges: Option<String>,
        #[command(flatten)]
        settings: RangesFlags,
    },
    /// Show the changes a sync would make, and change nothing.
    #[command(after_help = PLAN_EXAMPLES)]
    Plan(PlanArgs),
    /// Make the managed allow-lists hold exactly the published ranges, and attach the groups to every target.
    #[command(after_help = APPLY_EXAMPLES)]
    Apply(ApplyArgs),
    /// Show what each kind holds now: the groups (rules against the quota, targets, free capacity), the prefix lists (what references them), the WAF IP sets.
    #[command(after_help = STATUS_EXAMPLES)]
    Status {
        #[command(flatten)]
        settings: StatusFlags,
    },
    /// Serve Lambda invocations (the default when AWS_LAMBDA_RUNTIME_API is set); settings from the environment.
    Lambda,
    /// Print a shell completion script: sgsync completions bash > /etc/bash_completion.d/sgsync
    Completions {
        /// bash, zsh, fish, elvish or powershell
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff): sgsync man | man -l -
    Man,
}

/// What each command's help ends with.
macro_rules! examples {
    ($($line:literal),*) => {
        concat!("Examples:", $("\n  ", $line,)* "\n\nEvery flag is also an environment variable (--vpc-id: VPC_ID); `sgsync man` lists them all.")
    };
}

const RANGES_EXAMPLES: &str = examples!(
    "sgsync ranges --ports 80,443 --ip-versions ipv4,ipv6",
    "sgsync ranges --ip-ranges ip-ranges.json --service CLOUDFRONT_ORIGIN_FACING --output json"
);
const PLAN_EXAMPLES: &str = examples!(
    "sgsync plan                                   # the current document, this VPC",
    "sgsync plan --ip-ranges ip-ranges.json --detailed-exitcode",
    "sgsync plan --event sns.json --kinds security-groups,waf-ip-sets",
    "sgsync plan --out change.plan    # review it, then: sgsync apply --plan change.plan"
);
const APPLY_EXAMPLES: &str = examples!(
    "sgsync apply --ports 443 --vpc-id vpc-0123456789abcdef0",
    "sgsync apply --fleet s3://bucket/fleet.toml --output json"
);
const STATUS_EXAMPLES: &str = examples!(
    "sgsync status",
    "sgsync status --kinds prefix-lists --output json"
);

fn main() -> ExitCode {
    // Writing to a closed pipe (`sgsync ranges | head`) ends the process quietly, as for any Unix
    // tool, instead of a panic in `println!`.
    #[cfg(unix)]
    // SAFETY: restores the default disposition of one signal before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let in_lambda = std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some();
    let parsed = if in_lambda && std::env::args_os().len() == 1 {
        Cli::try_parse_from(["sgsync", "lambda"])
    } else {
        Cli::try_parse()
    };
    let cli = match parsed {
        Ok(cli) => cli,
        Err(e) => return usage_error(&e),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let json = cli.output == Output::Json;
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            let message = sgsync::error_chain(e.as_ref());
            eprintln!("error: {message}");
            if json {
                // A script reading stdout gets a document whatever happened.
                let doc = serde_json::json!({
                    "status": "error",
                    "error": { "kind": error_kind(e.as_ref()), "message": message },
                });
                println!("{doc:#}");
            }
            ExitCode::FAILURE
        }
    }
}

/// A command line clap refused: help and version are printed (exit 0); anything else is an error
/// like the others (exit 1, never 2, which `--detailed-exitcode` means "changes"), with its JSON
/// document when `--output json` was asked for.
fn usage_error(e: &clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    if matches!(
        e.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        let _ = e.print();
        return if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
            ExitCode::FAILURE
        } else {
            ExitCode::SUCCESS
        };
    }
    let text = e.to_string();
    let first = text
        .lines()
        .next()
        .unwrap_or_default()
        .trim_start_matches("error: ")
        .to_string();
    let args: Vec<String> = std::env::args().collect();
    let json = args
        .windows(2)
        .any(|w| w[0] == "--output" && w[1] == "json")
        || args.iter().any(|a| a == "--output=json");
    if json {
        let doc = serde_json::json!({
            "status": "error",
            "error": { "kind": "usage", "message": first },
        });
        println!("{doc:#}");
    }
    eprint!("{text}");
    ExitCode::FAILURE
}

/// What failed, in one word a script can branch on: `settings` (a flag or variable), `input` (a
/// document, event or fleet file that was refused before AWS was touched), `guard` (a sanity check
/// refused the document), `aws` (AWS failed or could not be reached), `refused` (the run would have
/// been unsafe: nothing was changed), `plan` (a kind could not be planned or an action failed).
fn error_kind(e: &(dyn Error + 'static)) -> &'static str {
    use sgsync::{KindError, LoadError, RunError};
    // AWS's failure, wherever it is in a chain (an apply step AWS refused midway).
    let from_aws = |e: &(dyn Error + 'static)| {
        let mut cause = Some(e);
        while let Some(c) = cause {
            if c.is::<sgsync::AwsError>() {
                return true;
            }
            cause = c.source();
        }
        false
    };
    if let Some(run) = e.downcast_ref::<RunError>() {
        return match run {
            RunError::Load(_) => "input",
            RunError::Aws(_) | RunError::Kind(KindError::Aws(_)) => "aws",
            RunError::Kind(KindError::Apply(step)) if from_aws(step.as_ref()) => "aws",
            RunError::Guard(_) => "guard",
            RunError::Kind(_) => "plan",
            RunError::Refused(_) => "refused",
        };
    }
    if from_aws(e) {
        "aws"
    } else if e.is::<sgsync::config::ConfigError>() {
        "settings"
    } else if e.is::<LoadError>()
        || e.is::<sgsync::fleet::FleetError>()
        || e.is::<sgsync::event::EventError>()
        || e.is::<sgsync::source::SourceError>()
        || e.is::<sgsync::ranges::RangesError>()
    {
        "input"
    } else {
        "other"
    }
}

/// Says on stderr what failed on the way (whatever the output format: errors go there) and gives
/// the exit code of a run that completed: everything else was done, but what failed makes it fail.
fn finished(outcome: &sgsync::Outcome, detailed: bool) -> ExitCode {
    let errors = outcome.all_errors();
    for e in &errors {
        eprintln!("error: {e}");
    }
    run_exit_code(errors.len(), outcome.changed(), detailed)
}

/// The exit code of a run that completed: 1 when anything failed on the way (even if the rest was
/// applied); with `--detailed-exitcode`, 2 when it found or made changes; else 0.
fn run_exit_code(errors: usize, changed: bool, detailed: bool) -> ExitCode {
    if errors > 0 {
        ExitCode::FAILURE
    } else if detailed && changed {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    }
}

/// The manual page: the commands, then every setting (the advanced ones `--help` leaves out
/// included) and the environment that is not a setting.
fn man(out: &mut dyn std::io::Write) -> std::io::Result<()> {
    let cli = Cli::command();
    let page = clap_mangen::Man::new(cli.clone());
    page.render_title(out)?;
    page.render_name_section(out)?;
    page.render_synopsis_section(out)?;
    page.render_extra_section(out)?;
    // Every command with its own flags (clap_mangen would point to pages that do not exist).
    let roff_text = |text: &str| text.replace('\\', "\\e").replace('-', "\\-");
    writeln!(out, ".SH COMMANDS")?;
    for sub in cli.get_subcommands() {
        writeln!(
            out,
            ".SS sgsync {}\n{}",
            sub.get_name(),
            roff_text(&sub.get_about().map(ToString::to_string).unwrap_or_default())
        )?;
        for arg in sub.get_arguments().filter(|a| !a.is_hide_set()) {
            let Some(long) = arg.get_long() else { continue };
            let value = arg
                .get_value_names()
                .and_then(|v| v.first())
                .map(|v| format!(" <{v}>"))
                .unwrap_or_default();
            writeln!(
                out,
                ".TP\n\\fB\\-\\-{}\\fR{}\n{}",
                roff_text(long),
                roff_text(&value),
                roff_text(&arg.get_help().map(ToString::to_string).unwrap_or_default())
            )?;
        }
    }
    writeln!(
        out,
        ".SH OUTPUT\nText, or with \\-\\-output json one JSON document on stdout: the run's summary, or \
         {{\"status\": \"error\", \"error\": {{\"kind\": …, \"message\": …}}}} when it stopped before applying \
         (kind: usage, settings, input, guard, aws, refused, plan, other). Errors are one line on stderr."
    )?;
    writeln!(out, ".SH SETTINGS")?;
    writeln!(
        out,
        "Each is an environment variable and a flag of the commands it concerns; a flag wins."
    )?;
    for s in sgsync::config::SETTINGS {
        writeln!(
            out,
            ".TP\n\\fB{}\\fR, \\fB\\-\\-{}\\fR\n{}. Default: {}.",
            s.name,
            roff_text(&s.flag()),
            roff_text(s.help),
            roff_text(s.default_text())
        )?;
    }
    writeln!(out, ".SH ENVIRONMENT")?;
    writeln!(
        out,
        ".TP\n\\fBSGSYNC_LOG\\fR\nThe log filter (tracing's EnvFilter syntax), e.g. sgsync=debug; logs go to stderr.\n\
         .TP\n\\fBAWS_ENDPOINT_URL\\fR, \\fBAWS_PROFILE\\fR, \\fBAWS_REGION\\fR\nThe AWS SDK's standard chain."
    )?;
    writeln!(out, ".SH EXIT STATUS")?;
    writeln!(
        out,
        "0 success; 1 any error, also when the rest of the run was applied; with \\-\\-detailed\\-exitcode, 2 when changes were found (plan) or made (apply)."
    )
}

/// Logs go to stderr: text for a terminal, JSON lines in Lambda (CloudWatch parses them).
fn init_logging(config: &Config, json: bool) {
    let default = if config.debug {
        "sgsync=debug,info"
    } else {
        "sgsync=info,warn"
    };
    let filter = EnvFilter::try_from_env("SGSYNC_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if json {
        builder.json().flatten_event(true).try_init()
    } else {
        builder
            .with_target(false)
            .with_ansi(std::io::stderr().is_terminal())
            .try_init()
    };
}

/// What `plan`/`apply` work from: a document (as the flags say), or an event that needs none (a
/// launch or a tag, given with `--event`).
enum Trigger {
    Document(Input),
    Event(event::Event),
}

/// Where the document comes from, as the flags say.
fn trigger(args: DocumentArgs) -> Result<Trigger, Box<dyn Error>> {
    Ok(match (args.event, args.ip_ranges) {
        (Some(path), _) => {
            let bytes = std::fs::read(&path)
                .map_err(|e| format!("cannot read the event file {}: {e}", path.display()))?;
            let event = event::parse_event_bytes(&bytes)?;
            match Input::for_event(&event) {
                Some(input) => Trigger::Document(input),
                None => Trigger::Event(event),
            }
        }
        (None, Some(file_or_url)) => Trigger::Document(Input::Location {
            file_or_url,
            md5: args.md5.map(|m| m.to_ascii_lowercase()),
        }),
        (None, None) => Trigger::Document(Input::Configured),
    })
}

/// Prints a report as JSON or as its text.
fn show<T: Serialize + std::fmt::Display>(report: &T, json: bool) -> Result<(), Box<dyn Error>> {
    if json {
        println!("{}", serde_json::to_string_pretty(report)?);
    } else {
        print!("{report}");
    }
    Ok(())
}

async fn run(cli: Cli) -> Result<ExitCode, Box<dyn Error>> {
    let flags = match &cli.command {
        Command::Ranges { settings, .. } => settings.0.clone(),
        Command::Plan(PlanArgs { doc, .. }) | Command::Apply(ApplyArgs { doc, .. }) => {
            doc.settings.0.clone()
        }
        Command::Status { settings } => settings.0.clone(),
        Command::Lambda => ConfigArgs::default(),
        Command::Completions { shell } => {
            clap_complete::generate(
                *shell,
                &mut Cli::command(),
                "sgsync",
                &mut std::io::stdout(),
            );
            return Ok(ExitCode::SUCCESS);
        }
        Command::Man => {
            man(&mut std::io::stdout())?;
            return Ok(ExitCode::SUCCESS);
        }
    };
    let args = ConfigArgs::from_env(|name| std::env::var(name).ok()).with_flags(&flags);
    let config = Config::from_args(&args, &Environment::of_process())?;
    let json = cli.output == Output::Json;
    init_logging(&config, matches!(cli.command, Command::Lambda));
    for note in &config.notes {
        tracing::warn!("{note}");
    }
    // Both set and different: REGION wins, and says so (AWS_REGION is what users of the SDK expect
    // to decide).
    if let Some(aws) = std::env::var("AWS_REGION").ok().filter(|r| !r.is_empty())
        && args.get(sgsync::config::Var::Region).is_some()
        && aws != config.region
    {
        tracing::warn!(
            "REGION={} overrides AWS_REGION={aws}: this run reads and changes {}",
            config.region,
            config.region
        );
    }
    match cli.command {
        // Answered before any setting was read.
        Command::Completions { .. } | Command::Man => {}
        Command::Lambda => {
            sgsync::serve(config, args)
                .await
                .map_err(|e| e.to_string())?;
        }
        Command::Ranges { ip_ranges, .. } => {
            let limits = source::Limits::default();
            let cache = config.download_cache.as_ref();
            let document = match &ip_ranges {
                Some(file_or_url) => source::load(file_or_url, &limits, cache).await?,
                None => {
                    let url = sgsync::configured_url(&config)?;
                    source::fetch(url, &limits, cache).await?
                }
            };
            let ranges = sgsync::select_document(
                config.source,
                &document.bytes,
                &config.selection(),
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs()),
            )?;
            source::keep(cache, &document);
            let sizing = Sizing {
                ports: config.ports.len(),
                quotas: config.default_quotas(),
                list_cap: config
                    .kinds
                    .prefix_lists
                    .then_some(config.prefix_list_max_entries),
                groups: config.kinds.security_groups,
            };
            let mut report = RangesReport::new(&config.service_label(), &ranges, sizing);
            report.download = document.fetched;
            show(&report, json)?;
        }
        Command::Plan(PlanArgs {
            doc,
            out: Some(out),
        }) => {
            return plan_for_approval(config, &args, doc, &out, json).await;
        }
        Command::Plan(PlanArgs { doc, out: None }) => {
            return sync_command(config, &args, doc, Mode::Plan, json).await;
        }
        Command::Apply(ApplyArgs {
            plan: Some(plan), ..
        }) => return apply_approved(config, &args, &plan, json).await,
        Command::Apply(ApplyArgs { doc, yes, .. }) => {
            let ask = !yes
                && !json
                && config.fleet.is_none()
                && std::io::stdin().is_terminal()
                && std::io::stdout().is_terminal();
            if ask {
                return apply_after_asking(config, doc).await;
            }
            return sync_command(config, &args, doc, Mode::Apply, json).await;
        }
        Command::Status { .. } => {
            if let Some(location) = &config.fleet {
                let fleet = read_fleet(&config, &args, location).await?;
                let entries = fleet::fleet_status(&config, &fleet).await;
                let report = FleetStatusReport::from(entries.as_slice());
                show(&report, json)?;
                return Ok(exit_code(report.failed));
            }
            let clients = Clients::connect(&config.region).await;
            let inventory = sgsync::inventory(&config, &clients).await?;
            show(&StatusReport::from(&inventory), json)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Non-zero when any VPC of a fleet failed (the others completed).
fn exit_code(failed: usize) -> ExitCode {
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Reads and checks the fleet file `FLEET` names, before anything else is read from AWS.
async fn read_fleet(
    config: &Config,
    args: &ConfigArgs,
    location: &FleetLocation,
) -> Result<Fleet, Box<dyn Error>> {
    let base = sgsync::Session::load(&config.region).await;
    let (text, name) = fleet::read_fleet_file(location, &base).await?;
    let env = Environment {
        function: None,
        ..Environment::of_process()
    };
    Ok(fleet::parse(&text, &name, args, &env)?)
}

/// What an approved plan file holds: the plan, and everything it was computed from.
const PLAN_FORMAT: &str = "sgsync-plan/1";

/// The document of `doc` (not an event without one, not a fleet), loaded.
async fn document_of(config: &Config, doc: DocumentArgs) -> Result<sgsync::Loaded, Box<dyn Error>> {
    if config.fleet.is_some() {
        return Err("a plan for approval covers one VPC: run it without FLEET (per entry)".into());
    }
    let Trigger::Document(input) = trigger(doc)? else {
        return Err(
            "a launch or tag event needs no approval (it only attaches): apply it as it is".into(),
        );
    };
    Ok(sgsync::load(config, &input).await?)
}

/// The flags of `doc` applied to `config`, and the plan of its document for this one VPC: the
/// config, the document, the clients, the plan, and whether `--detailed-exitcode` was asked for.
async fn plan_one_vpc(
    mut config: Config,
    doc: DocumentArgs,
) -> Result<(Config, sgsync::Loaded, Clients, sgsync::Outcome, bool), Box<dyn Error>> {
    config.guard.force = doc.force;
    config.repack = doc.repack;
    let detailed = doc.detailed_exitcode;
    let loaded = document_of(&config, doc).await?;
    let clients = Clients::connect(&config.region).await;
    let planned = sgsync::sync_vpc(&config, &clients, &loaded, Mode::Plan).await?;
    Ok((config, loaded, clients, planned, detailed))
}

/// `plan --out FILE`: the plan, and what it was computed from (the document's origin, synctoken and
/// MD5, every setting, --force and --repack), with the fingerprint of its actions.
async fn plan_for_approval(
    config: Config,
    args: &ConfigArgs,
    doc: DocumentArgs,
    out: &std::path::Path,
    json: bool,
) -> Result<ExitCode, Box<dyn Error>> {
    let (config, loaded, _, outcome, detailed) = plan_one_vpc(config, doc).await?;
    let summary = Summary::from(&outcome);
    let settings: serde_json::Map<String, serde_json::Value> = sgsync::config::SETTINGS
        .iter()
        .map(|s| {
            (
                s.name.to_string(),
                args.value(s.var).unwrap_or_default().into(),
            )
        })
        .collect();
    let file = serde_json::json!({
        "format": PLAN_FORMAT,
        "document": {
            "origin": loaded.document.origin,
            "md5": loaded.document.md5(),
            "synctoken": loaded.ranges.synctoken,
        },
        "settings": settings,
        "force": config.guard.force,
        "repack": config.repack,
        "fingerprint": outcome.plan_fingerprint(),
        "plan": summary,
    });
    std::fs::write(out, format!("{file:#}\n"))
        .map_err(|e| format!("cannot write the plan to {}: {e}", out.display()))?;
    if json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        print!("{outcome}");
        println!(
            "plan written to {}: apply it with `sgsync apply --plan {}`",
            out.display(),
            out.display()
        );
    }
    Ok(finished(&outcome, detailed))
}

/// `apply --plan FILE`: exactly the approved plan, or nothing (the document, a setting or the
/// plan itself moved: said which).
async fn apply_approved(
    mut config: Config,
    args: &ConfigArgs,
    path: &std::path::Path,
    json: bool,
) -> Result<ExitCode, Box<dyn Error>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read the plan {}: {e}", path.display()))?;
    let file: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
        format!(
            "{} is not a plan of `sgsync plan --out` ({e}); nothing was changed",
            path.display()
        )
    })?;
    if file["format"] != PLAN_FORMAT {
        return Err(format!(
            "{} is not a plan of `sgsync plan --out` (format {}, expected {PLAN_FORMAT}); nothing was changed",
            path.display(),
            file["format"]
        )
        .into());
    }
    let moved: Vec<String> = sgsync::config::SETTINGS
        .iter()
        .filter_map(|s| {
            let then = file["settings"][s.name].as_str().unwrap_or_default();
            let now = args.value(s.var).unwrap_or_default();
            (then != now).then(|| format!("{} was '{then}', is '{now}'", s.name))
        })
        .collect();
    if !moved.is_empty() {
        return Err(sgsync::Refusal::PlanMoved {
            why: format!("settings changed: {}", moved.join("; ")),
        }
        .into());
    }
    let (Some(origin), Some(md5), Some(fingerprint)) = (
        file["document"]["origin"].as_str(),
        file["document"]["md5"].as_str(),
        file["fingerprint"].as_str(),
    ) else {
        return Err(format!(
            "{} lacks its document or fingerprint; nothing was changed",
            path.display()
        )
        .into());
    };
    config.guard.force = file["force"].as_bool().unwrap_or(false);
    config.repack = file["repack"].as_bool().unwrap_or(false);
    config.approved_plan = Some(fingerprint.to_string());
    let input = sgsync::Input::Location {
        file_or_url: origin.to_string(),
        md5: Some(md5.to_string()),
    };
    let clients = Clients::connect(&config.region).await;
    let outcome = sgsync::run(&config, &clients, &input, Mode::Apply).await?;
    show_outcome(&outcome, json)?;
    Ok(finished(&outcome, false))
}

/// `apply` on a terminal: show the plan, ask, and apply exactly that plan on yes.
async fn apply_after_asking(config: Config, doc: DocumentArgs) -> Result<ExitCode, Box<dyn Error>> {
    let (mut config, loaded, clients, planned, detailed) = plan_one_vpc(config, doc).await?;
    print!("{planned}");
    if !planned.changed() {
        return Ok(run_exit_code(planned.all_errors().len(), false, detailed));
    }
    print!("Apply these changes? Only 'yes' applies: ");
    std::io::Write::flush(&mut std::io::stdout())?;
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer)?;
    if answer.trim() != "yes" {
        println!("nothing was changed");
        return Ok(ExitCode::SUCCESS);
    }
    config.approved_plan = Some(planned.plan_fingerprint());
    let outcome = sgsync::sync_vpc(&config, &clients, &loaded, Mode::Apply).await?;
    print!("{outcome}");
    Ok(finished(&outcome, detailed))
}

/// Prints a run's outcome as JSON or as its text.
fn show_outcome(outcome: &sgsync::Outcome, json: bool) -> Result<(), Box<dyn Error>> {
    if json {
        println!("{}", serde_json::to_string_pretty(&Summary::from(outcome))?);
    } else {
        print!("{outcome}");
    }
    Ok(())
}

async fn sync_command(
    mut config: Config,
    args: &ConfigArgs,
    doc: DocumentArgs,
    mode: Mode,
    json: bool,
) -> Result<ExitCode, Box<dyn Error>> {
    config.guard.force = doc.force;
    config.repack = doc.repack;
    let detailed = doc.detailed_exitcode;
    let trigger = trigger(doc)?;
    if let Some(location) = &config.fleet {
        let Trigger::Document(input) = trigger else {
            return Err("--fleet takes a document (a notification, the schedule, --ip-ranges): launch and tag \
                        events happen in each account and are handled there"
                .into());
        };
        let mut fleet = read_fleet(&config, args, location).await?;
        for entry in &mut fleet.entries {
            entry.config.guard.force = config.guard.force;
            entry.config.repack = config.repack;
        }
        // On a terminal, each VPC as it finishes (stderr: logs and JSON on stdout stay clean).
        let total = fleet.entries.len();
        let finished_so_far = std::sync::atomic::AtomicUsize::new(0);
        let terminal = std::io::stderr().is_terminal();
        let progress = |e: &sgsync::EntryOutcome<sgsync::Outcome>| {
            if !terminal {
                return;
            }
            let n = finished_so_far.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            let how = match &e.result {
                Ok(o) if o.all_errors().is_empty() => o.status.word().to_string(),
                Ok(_) => "completed with errors".to_string(),
                Err(_) => "failed".to_string(),
            };
            eprintln!(
                "[{n}/{total}] {}: {how} ({:.1} s)",
                e.entry.label(),
                e.duration.as_secs_f64()
            );
        };
        let outcome = fleet::run_fleet(&config, &fleet, &input, mode, None, &progress).await?;
        if json {
            println!(
                "{}",
                serde_json::to_string_pretty(&FleetSummary::from(&outcome))?
            );
        } else {
            print!("{outcome}");
        }
        let changed = outcome
            .entries
            .iter()
            .any(|e| e.result.as_ref().is_ok_and(sgsync::Outcome::changed));
        return Ok(run_exit_code(outcome.failed(), changed, detailed));
    }
    let clients = Clients::connect(&config.region).await;
    let outcome = match trigger {
        Trigger::Document(input) => sgsync::run(&config, &clients, &input, mode).await?,
        Trigger::Event(event) => sgsync::run_event(&config, &clients, &event, mode).await?,
    };
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&Summary::from(&outcome))?
        );
    } else {
        print!("{outcome}");
    }
    // Everything else was done; what failed on the way makes the run fail (and is said on stderr,
    // where errors go, whatever the output format).
    Ok(finished(&outcome, detailed))
}
