//! Replay conversions from JSON Lines files under several policies, and
//! print whose credit would move and which codes look leaked.
//!
//! ```sh
//! cargo run --all-features --example replay      # the shipped sample, three policies
//! cargo run --all-features --example replay -- \
//!     --data examples/data \
//!     --policy coupon-first --policy click-first --policy split:5000,bind=challenge_purchase
//! ```
//!
//! `--data DIR` names a directory holding three files, one JSON object a
//! line, in the crate's JSON form (fields that are null may be left out):
//!
//! * `assignments.jsonl`: a `CodeAssignment` a line, e.g.
//!   `{"code":"TOM10","affiliate":101,"valid_from":"2025-06-19T00:00:00Z","revoked":false,"mode":"standard"}`
//!   (a family of codes, `FXACAD*`, adds `"family":true` to its prefix's line);
//! * `clicks.jsonl`: a `Click` a line, e.g.
//!   `{"id":"k-000001","affiliate":201,"clicked_at":"2026-01-05T01:02:03Z","customer":"t-00007"}`;
//! * `conversions.jsonl`: a `Conversion` a line, **in time order**, e.g.
//!   `{"id":"CP-000002","event":"challenge_purchase","occurred_at":"2026-01-05T09:00:00Z","customer":"t-00007","codes":["TOM10"],"amount":"99","currency":"USD"}`.
//!
//! Conversions are streamed: one line is read, replayed and dropped. A
//! line that cannot be read or stored stops the replay with its file and
//! line number; a field the type does not have is refused, not ignored.
//!
//! `--policy SPEC`, repeated, names the policies to compare. A spec is a
//! preset, then options separated by commas:
//!
//! * presets: `coupon-first`, `click-first`, `last-touch`, `first-touch`,
//!   `split:BP` (the code owner's share in basis points, e.g. `split:5000`);
//! * `window=DAYS`: the click window (default 30);
//! * `pick=first` or `pick=last`: which click counts (default last);
//! * `bind=EVENT+EVENT`: the events that bind the customer, e.g.
//!   `bind=registration` or `bind=challenge_purchase+first_deposit`
//!   (`custom` stands for every custom event; other names are refused);
//! * `lifetime=DAYS`, `lifetime=forever` or `lifetime=one-off`: how long a
//!   binding lasts (default forever);
//! * `breaks`: a valid code breaks a binding;
//! * `once-per-customer=EVENT+EVENT`: those events are paid once a
//!   customer, e.g. `once-per-customer=challenge_purchase` (a trader's
//!   second challenge is a duplicate of the first);
//! * `once-per-click=EVENT+EVENT`: those events are paid once a click the
//!   conversion names, e.g. `once-per-click=all`;
//! * `look-alikes`: an unknown code is read as the one active code it
//!   looks like (`T0M10` as `TOM10`).
//!
//! Whatever the policies, the report lists the unknown codes entered that
//! resemble active ones (look-alikes, and codes one edit away), with how
//! many conversions entered each.
//!
//! Event lists take the names above, `custom` for every custom event,
//! and `all`.
//!
//! Without `--policy` the sample's three are compared: each of
//! `coupon-first`, `click-first` and `split:5000` with
//! `bind=challenge_purchase`. Other flags: `--moved N` (moved conversions
//! listed, default 5), `--recent-days N` (default 30), `--json` (the report
//! as JSON instead of tables).

use std::error::Error;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use attributor::{
    BindingLifetime, Click, ClickPick, CodeAssignment, Conversion, EventKind, EventKinds, Experiment,
    ExperimentOptions, Label, MemoryClickStore, MemoryCodeRegistry, Policy,
};
use chrono::TimeDelta;

const DEFAULT_POLICIES: [&str; 3] = [
    "coupon-first,bind=challenge_purchase",
    "click-first,bind=challenge_purchase",
    "split:5000,bind=challenge_purchase",
];

/// `value` as a number, or an error that names `what` it was for.
fn number<T: std::str::FromStr>(what: &str, value: &str) -> Result<T, String> {
    value
        .parse()
        .map_err(|_| format!("{what} needs a whole number in range, not {value:?}"))
}

/// Parses a `--policy` spec; see the module docs.
pub fn parse_policy(spec: &str) -> Result<Policy, Box<dyn Error>> {
    let mut parts = spec.split(',').map(str::trim);
    let preset = parts.next().unwrap_or_default();
    let mut policy = match preset {
        "coupon-first" => Policy::coupon_first(),
        "click-first" => Policy::click_first(),
        "last-touch" => Policy::last_touch(),
        "first-touch" => Policy::first_touch(),
        split if split.starts_with("split:") => {
            let bp = split.trim_start_matches("split:");
            Policy::split(
                bp.parse()
                    .map_err(|_| format!("{bp:?} is not a share in basis points"))?,
            )?
        }
        other => return Err(format!("unknown preset {other:?} in policy {spec:?}").into()),
    };
    for option in parts {
        let (key, value) = option.split_once('=').unwrap_or((option, ""));
        policy = match (key, value) {
            ("window", days) => {
                let window = TimeDelta::try_days(number("window=DAYS", days)?)
                    .ok_or_else(|| format!("window={days} is more days than a clock holds"))?;
                policy.with_click_window(window)?
            }
            ("pick", "first") => policy.with_click_pick(ClickPick::First),
            ("pick", "last") => policy.with_click_pick(ClickPick::Last),
            ("bind", events) => policy.with_bind_on(event_set(key, events)?),
            ("once-per-customer", events) => policy.with_once_per_customer(event_set(key, events)?),
            ("once-per-click", events) => policy.with_once_per_click(event_set(key, events)?),
            ("lifetime", "forever") => policy.with_binding_lifetime(BindingLifetime::Forever),
            ("lifetime", "one-off") => policy.with_binding_lifetime(BindingLifetime::OneOff),
            ("lifetime", days) => {
                policy.with_binding_lifetime(BindingLifetime::Days(number("lifetime=DAYS", days)?))
            }
            ("breaks", "") => policy.with_coupon_breaks_binding(true),
            ("look-alikes", "") => policy.with_look_alikes(true),
            _ => return Err(format!("unknown option {option:?} in policy {spec:?}").into()),
        };
    }
    Ok(policy)
}

/// The events of an option such as `bind=`, joined by `+`: built-in
/// names, `custom` for every custom event, or `all`. Any other name is
/// refused, since a typo (`purchse`) would otherwise name a custom event
/// no conversion has, and the option would do nothing.
fn event_set(option: &str, events: &str) -> Result<EventKinds, Box<dyn Error>> {
    let mut set = EventKinds::NONE;
    for name in events.split('+') {
        set = set
            | match name.parse()? {
                _ if name == "all" => EventKinds::ALL,
                EventKind::Custom(_) if name != "custom" => {
                    return Err(format!(
                        "unknown event {name:?} in {option}=; the events are registration, \
                         first_deposit, deposit, challenge_purchase, challenge_reset, purchase, \
                         custom for every custom event, and all"
                    )
                    .into());
                }
                event => EventKinds::of(event),
            };
    }
    Ok(set)
}

/// The policies of `specs`, each named by its preset, made unique.
pub fn named_policies(specs: &[String]) -> Result<Vec<(Label, Policy)>, Box<dyn Error>> {
    let mut named: Vec<(Label, Policy)> = Vec::new();
    for spec in specs {
        let policy = parse_policy(spec).map_err(|e| format!("--policy {spec:?}: {e}"))?;
        let preset = spec.split(',').next().unwrap_or_default().trim();
        let mut name = preset.to_owned();
        let mut n = 1;
        while named.iter().any(|(taken, _)| taken.as_str() == name) {
            n += 1;
            name = format!("{preset}#{n}");
        }
        named.push((Label::new(&name)?, policy));
    }
    Ok(named)
}

/// A value read from a file, with where it was read (`path:line`).
pub type Located<T> = Result<(String, T), Box<dyn Error>>;

/// The JSON lines of `path`, parsed, each with where it was read
/// (`path:line`), which errors name too.
pub fn read_lines<T: serde::de::DeserializeOwned>(
    path: &Path,
) -> Result<impl Iterator<Item = Located<T>>, Box<dyn Error>> {
    let file = File::open(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    let name = path.display().to_string();
    Ok(BufReader::new(file)
        .lines()
        .enumerate()
        .filter(|(_, line)| line.as_ref().map_or(true, |l| !l.trim().is_empty()))
        .map(move |(i, line)| {
            let at = format!("{name}:{}", i + 1);
            let value = line
                .map_err(|e| format!("{at}: {e}"))
                .and_then(|line| serde_json::from_str(&line).map_err(|e| format!("{at}: {e}")))?;
            Ok((at, value))
        }))
}

fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        // The reader stopped reading (`replay | head`): not a failure.
        Err(e)
            if e.downcast_ref::<io::Error>()
                .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe) =>
        {
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("replay: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Box<dyn Error>> {
    let mut data = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/data");
    let mut specs: Vec<String> = Vec::new();
    let mut options = ExperimentOptions::new().with_moved_limit(5);
    let mut json = false;
    let mut out = io::stdout().lock();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--data" => data = value()?.into(),
            "--policy" => specs.push(value()?),
            "--moved" => options = options.with_moved_limit(number("--moved", &value()?)?),
            "--recent-days" => {
                options = options.with_recent_days(number("--recent-days", &value()?)?)?;
            }
            "--json" => json = true,
            "--help" | "-h" => {
                writeln!(
                    out,
                    "usage: replay [--data DIR] [--policy SPEC]... [--moved N] [--recent-days N] [--json]"
                )?;
                writeln!(
                    out,
                    "see the top of examples/replay.rs for the file formats and the policy specs"
                )?;
                return Ok(());
            }
            other => return Err(format!("unknown argument {other:?}; try --help").into()),
        }
    }
    if specs.is_empty() {
        specs = DEFAULT_POLICIES.iter().map(|s| s.to_string()).collect();
    }
    let policies = named_policies(&specs)?;

    let registry = MemoryCodeRegistry::new();
    for line in read_lines::<CodeAssignment>(&data.join("assignments.jsonl"))? {
        let (at, assignment) = line?;
        registry.insert(assignment).map_err(|e| format!("{at}: {e}"))?;
    }
    let clicks = MemoryClickStore::new();
    for line in read_lines::<Click>(&data.join("clicks.jsonl"))? {
        let (at, click) = line?;
        clicks.insert(click).map_err(|e| format!("{at}: {e}"))?;
    }

    let mut experiment = Experiment::new(&registry, &clicks).with_options(options);
    if !json {
        writeln!(
            out,
            "replaying {} under:",
            data.join("conversions.jsonl").display()
        )?;
        for ((name, _), spec) in policies.iter().zip(&specs) {
            writeln!(out, "  {name}: {spec}")?;
        }
        writeln!(
            out,
            "{} codes and {} clicks loaded\n",
            registry.len(),
            clicks.len()
        )?;
    }
    for (name, policy) in policies {
        experiment = experiment.with_policy(name, policy);
    }
    for line in read_lines::<Conversion>(&data.join("conversions.jsonl"))? {
        let (at, conversion) = line?;
        experiment.replay(&conversion).map_err(|e| format!("{at}: {e}"))?;
    }
    let report = experiment.report();
    if json {
        writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?;
    } else {
        write!(out, "{report}")?;
    }
    out.flush()?;
    Ok(())
}
