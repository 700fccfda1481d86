//! Every command the README shows runs as written: each shell block that
//! needs no Azure account is executed, in README order, in one fresh copy of
//! the repository (its git-tracked files), with a temporary HOME.
//!
//! Which blocks run — the rule for README authors:
//!
//! 1. Only fenced blocks in `sh` (or `bash`, `shell`) are commands. `text`,
//!    `yaml`, `zsh`, … blocks are shown, never run.
//! 2. A block runs only when every command in it is known to run here,
//!    without Azure and without tools oailb does not install: `oailb` with a
//!    subcommand in [`OFFLINE`] (`plan` only with `--offline`), `cargo run`,
//!    `cargo install`, `cargo build`, the fake ARM
//!    (`target/debug/examples/fake-arm`), and the shell tools in [`LOCAL`].
//!    A block that starts the fake ARM may also run the [`LIVE`]
//!    subcommands: they reach only the fake.
//! 3. Every other block is shown, not run, and the test prints why: it needs
//!    Azure (`oailb deploy`, `az`, `terraform`), runs the project's scripts
//!    (`scripts/test.sh` is what runs this test; `bench/` takes minutes), or
//!    uses a command this test does not know yet (a new oailb subcommand, a
//!    server to `curl`): add it to [`OFFLINE`] or [`LOCAL`] when it runs
//!    locally and quickly.
//!
//! Every command must exit 0, unless its comment starts with `exit N`
//! (`oailb plan --detailed-exitcode …   # exit 2: changes`). A command is one
//! line, or several joined by a trailing `\`.
//!
//! `cargo` is served by what this test build compiled (a release build would
//! take minutes and test the same code): `cargo run [--release] -- ARGS`
//! runs the oailb under test, `cargo install --path .` does nothing (that
//! oailb is first on PATH), and `cargo build …` builds into this build's
//! target directory (`target/` in the copy points there).
#![cfg(unix)]

use std::collections::BTreeSet;
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// oailb subcommands that need no Azure (with `plan`: only `--offline`).
const OFFLINE: &[&str] = &[
    "init",
    "validate",
    "render",
    "render-policy",
    "simulate",
    "completions",
    "help",
];
/// oailb subcommands that talk to Azure Resource Manager (and `plan`
/// without `--offline`).
const LIVE: &[&str] = &["deploy", "destroy"];
/// Shell commands and keywords that only touch local files and processes.
const LOCAL: &[&str] = &[
    "cd", "mkdir", "cp", "mv", "rm", "ls", "cat", "echo", "export", "unset", ".", "source",
    "sleep", "[", "test", "kill", "wait", "mktemp", "do", "done", "then", "fi", "true",
];
/// The fake ARM as the README starts it.
const FAKE_ARM: &str = "target/debug/examples/fake-arm";
/// A block that runs longer than this fails (a server left running, a prompt).
const BLOCK_TIMEOUT: Duration = Duration::from_secs(300);

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// One fenced block of the README.
struct Block {
    /// README line of the opening fence.
    line: usize,
    lang: String,
    /// (README line, text) of each line inside the fence.
    lines: Vec<(usize, String)>,
}

fn blocks(readme: &str) -> Vec<Block> {
    let mut out = Vec::new();
    let mut open: Option<Block> = None;
    for (i, l) in readme.lines().enumerate() {
        let n = i + 1;
        if let Some(info) = l.strip_prefix("```") {
            match open.take() {
                Some(b) => out.push(b),
                None => {
                    open = Some(Block {
                        line: n,
                        lang: info.split_whitespace().next().unwrap_or("").to_string(),
                        lines: Vec::new(),
                    })
                }
            }
        } else if let Some(b) = open.as_mut() {
            b.lines.push((n, l.to_string()));
        }
    }
    assert!(open.is_none(), "README.md: a code block is never closed");
    out
}

/// One command: its lines (a `\` continues one), the README line it
/// starts on, and the exit code its comment announces.
struct Cmd {
    line: usize,
    text: String,
    expect: i32,
}

fn commands(b: &Block) -> Vec<Cmd> {
    let mut out: Vec<Cmd> = Vec::new();
    let mut continued = false;
    for (n, l) in &b.lines {
        if continued {
            let c = out.last_mut().unwrap();
            c.text.push('\n');
            c.text.push_str(l);
        } else if !l.trim().is_empty() && !l.trim_start().starts_with('#') {
            out.push(Cmd {
                line: *n,
                text: l.clone(),
                expect: 0,
            });
        }
        continued = l.ends_with('\\');
        if !continued {
            if let Some(c) = out.last_mut() {
                c.expect = expected_exit(comment(l)).unwrap_or(0);
            }
        }
    }
    out
}

/// The comment of a shell line: from a `#` outside quotes that starts a word.
fn comment(line: &str) -> &str {
    let (mut single, mut double, mut prev) = (false, false, ' ');
    for (i, c) in line.char_indices() {
        match c {
            '\'' if !double => single = !single,
            '"' if !single && prev != '\\' => double = !double,
            '#' if !single && !double && prev.is_whitespace() => return &line[i + 1..],
            _ => {}
        }
        prev = c;
    }
    ""
}

/// `exit N` at the start of a comment.
fn expected_exit(comment: &str) -> Option<i32> {
    let rest = comment.trim_start().strip_prefix("exit ")?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// The commands in a command line, as words: each part between `;`, `&`,
/// `|` (outside quotes) and each `$(…)`, from its first word after
/// `do`/`then`/`!` and assignments.
fn invocations(text: &str) -> Vec<Vec<String>> {
    let mut parts = vec![String::new()];
    let (mut single, mut double) = (false, false);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' if !double => single = !single,
            '"' if !single => double = !double,
            // A command substitution `$(…)` is a command of its own.
            '$' if !single && chars.peek() == Some(&'(') => {
                chars.next();
                parts.push(String::new());
                continue;
            }
            ')' if !single => {
                parts.push(String::new());
                continue;
            }
            ';' | '&' | '|' | '\n' if !single && !double => {
                parts.push(String::new());
                continue;
            }
            '#' if !single && !double && parts.last().unwrap().ends_with(' ') => break,
            _ => {}
        }
        parts.last_mut().unwrap().push(c);
    }
    parts
        .iter()
        .map(|p| {
            p.split_whitespace()
                .skip_while(|w| {
                    matches!(*w, "do" | "then" | "!" | "until" | "while") || w.contains('=')
                })
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .filter(|w| !w.is_empty())
        .collect()
}

/// The oailb subcommand an invocation runs, if it runs oailb (`oailb SUB`
/// or `cargo run … -- SUB`).
fn subcommand(words: &[String]) -> Option<&str> {
    let args = match words.first()?.as_str() {
        "oailb" => &words[1..],
        "cargo" if words.get(1).map(String::as_str) == Some("run") => {
            let dashes = words.iter().position(|w| w == "--")?;
            &words[dashes + 1..]
        }
        _ => return None,
    };
    let mut skip = false;
    for w in args {
        if skip {
            skip = false;
        } else if matches!(w.as_str(), "-f" | "--topology" | "--color") {
            skip = true;
        } else if !w.starts_with('-') {
            return Some(w);
        }
    }
    None
}

/// Why a block is not run, or None when it runs.
fn reason_to_skip(b: &Block) -> Option<String> {
    if !matches!(b.lang.as_str(), "sh" | "bash" | "shell") {
        return Some(format!("a `{}` block", b.lang));
    }
    let starts_fake = b.lines.iter().any(|(_, l)| l.contains(FAKE_ARM));
    for cmd in commands(b) {
        for words in invocations(&cmd.text) {
            let word = words[0].as_str();
            if let Some(sub) = subcommand(&words) {
                let offline = if sub == "plan" {
                    words.iter().any(|w| w == "--offline")
                } else {
                    OFFLINE.contains(&sub)
                };
                let live = LIVE.contains(&sub) || sub == "plan";
                let runs_here = offline || (live && starts_fake);
                if !runs_here {
                    return Some(if live {
                        format!("`oailb {sub}` needs Azure")
                    } else {
                        format!("`oailb {sub}` is not in OFFLINE in tests/readme.rs")
                    });
                }
            } else if word == "cargo" {
                let sub = words.get(1).map_or("", String::as_str);
                if !matches!(sub, "run" | "install" | "build") {
                    return Some(format!("`cargo {sub}` has no stand-in here"));
                }
            } else if word.starts_with("scripts/") || word.starts_with("bench/") {
                return Some(format!(
                    "runs the project's {word} (scripts/test.sh runs this test)"
                ));
            } else if word != FAKE_ARM && !LOCAL.contains(&word) {
                return Some(format!(
                    "`{word}` is not known to run locally (LOCAL in tests/readme.rs)"
                ));
            }
        }
    }
    None
}

/// A copy of the git-tracked files of the repository.
fn clean_copy(to: &Path) {
    let out = Command::new("git")
        .current_dir(root())
        .args(["ls-files", "-z"])
        .output()
        .expect("git ls-files");
    assert!(out.status.success(), "git ls-files failed");
    for name in out.stdout.split(|b| *b == 0).filter(|n| !n.is_empty()) {
        let name = std::str::from_utf8(name).unwrap();
        let from = root().join(name);
        if !from.is_file() {
            continue; // deleted in the work tree, not yet committed
        }
        let dest = to.join(name);
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        std::fs::copy(&from, &dest).unwrap();
    }
}

fn files_under(dir: &Path) -> BTreeSet<PathBuf> {
    let mut out = BTreeSet::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            let t = e.file_type().unwrap();
            if t.is_dir() {
                stack.push(p);
            } else if p != dir.join("target") {
                out.insert(p.strip_prefix(dir).unwrap().to_path_buf());
            }
        }
    }
    out
}

/// Bash functions that stand in for `cargo` and check each exit code.
const PRELUDE: &str = r#"
__readme_check() {
  local rc=$? want=$1 line=$2
  if [ "$rc" != "$want" ]; then
    echo "README.md:$line: exit $rc, expected $want" >&2
    exit 1
  fi
}
cargo() {
  case "$1" in
    run)
      while [ $# -gt 0 ] && [ "$1" != "--" ]; do shift; done
      [ $# -gt 0 ] && shift
      oailb "$@" ;;
    install) return 0 ;;
    build) command cargo "$@" --quiet --manifest-path "$README_TEST_MANIFEST" ;;
    *) echo "tests/readme.rs has no stand-in for: cargo $*" >&2; return 127 ;;
  esac
}
"#;

fn script(b: &Block) -> String {
    let mut s = String::from(PRELUDE);
    for c in commands(b) {
        s.push_str(&c.text);
        s.push('\n');
        s.push_str(&format!("__readme_check {} {}\n", c.expect, c.line));
    }
    s
}

/// Runs `script` with bash in `dir`, in its own process group, which is
/// killed afterwards (a fake ARM left in the background goes too).
fn run_block(dir: &Path, home: &Path, script: &str) -> (bool, String) {
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_oailb"));
    let target = bin.parent().unwrap().parent().unwrap().to_path_buf();
    let path = format!(
        "{}:{}",
        bin.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let real_home = PathBuf::from(std::env::var("HOME").unwrap_or_default());
    let mut cmd = Command::new("bash");
    cmd.current_dir(dir)
        .args(["-c", script])
        .env_clear()
        .env("PATH", path)
        .env("HOME", home)
        .env("NO_COLOR", "1")
        .env("README_TEST_MANIFEST", root().join("Cargo.toml"))
        .env("CARGO_TARGET_DIR", &target)
        .env(
            "CARGO_HOME",
            std::env::var_os("CARGO_HOME").unwrap_or_else(|| real_home.join(".cargo").into()),
        )
        .env(
            "RUSTUP_HOME",
            std::env::var_os("RUSTUP_HOME").unwrap_or_else(|| real_home.join(".rustup").into()),
        )
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    if let Some(tc) = std::env::var_os("RUSTUP_TOOLCHAIN") {
        cmd.env("RUSTUP_TOOLCHAIN", tc);
    }
    let mut child = cmd.spawn().unwrap();
    let pgid = child.id() as i32;
    let mut readers: Vec<_> = [
        Box::new(child.stdout.take().unwrap()) as Box<dyn Read + Send>,
        Box::new(child.stderr.take().unwrap()),
    ]
    .into_iter()
    .map(|mut r| {
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = r.read_to_string(&mut s);
            s
        })
    })
    .collect();
    let started = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break Some(s);
        }
        if started.elapsed() > BLOCK_TIMEOUT {
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    // SAFETY: signals only the process group this test created.
    unsafe { libc::kill(-pgid, libc::SIGKILL) };
    let _ = child.wait();
    let mut output: String = readers.drain(..).map(|h| h.join().unwrap()).collect();
    match status {
        Some(s) => (s.success(), output),
        None => {
            output.push_str(&format!("\n(killed after {BLOCK_TIMEOUT:?})"));
            (false, output)
        }
    }
}

#[test]
fn readme_commands_run_as_written() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let work = tempfile::tempdir().unwrap();
    let (clone, home) = (work.path().join("oailb"), work.path().join("home"));
    std::fs::create_dir_all(&home).unwrap();
    clean_copy(&clone);
    let target = PathBuf::from(env!("CARGO_BIN_EXE_oailb"))
        .parent()
        .and_then(Path::parent)
        .unwrap()
        .to_path_buf();
    std::os::unix::fs::symlink(&target, clone.join("target")).unwrap();

    let mut ran = Vec::new();
    for b in blocks(&readme) {
        if let Some(why) = reason_to_skip(&b) {
            eprintln!("README.md:{}: not run: {why}", b.line);
            continue;
        }
        eprintln!("README.md:{}: running", b.line);
        let before = files_under(&clone);
        let (ok, output) = run_block(&clone, &home, &script(&b));
        assert!(ok, "README.md:{}: the block failed:\n{output}", b.line);
        if b.lines.iter().any(|(_, l)| l.contains("examples/fake-arm")) {
            let added: Vec<_> = files_under(&clone).difference(&before).cloned().collect();
            assert!(
                added.is_empty(),
                "README.md:{}: the fake ARM walk-through left files in the work tree: {added:?}",
                b.line
            );
        }
        ran.push(b);
    }
    // The walk-throughs are among what ran.
    let ran_text = |needle: &str| {
        ran.iter()
            .any(|b| b.lines.iter().any(|(_, l)| l.contains(needle)))
    };
    assert!(
        ran_text("cargo run --release -- plan --offline"),
        "the quick start did not run"
    );
    assert!(
        ran_text("oailb deploy -f examples/seed.yaml --yes"),
        "the fake ARM walk-through did not run"
    );
}

#[test]
fn the_rules_classify_blocks_as_documented() {
    let block = |lang: &str, text: &str| Block {
        line: 1,
        lang: lang.to_string(),
        lines: text
            .lines()
            .enumerate()
            .map(|(i, l)| (i + 2, l.to_string()))
            .collect(),
    };
    let runs = |lang: &str, text: &str| reason_to_skip(&block(lang, text)).is_none();
    assert!(runs(
        "sh",
        "oailb validate -f oailb.yaml --strict   # warnings fail too (exit 1)"
    ));
    assert!(runs(
        "sh",
        "cargo run --release -- plan --offline -f x.yaml"
    ));
    assert!(runs("sh", "oailb -f x.yaml render-policy > p.xml"));
    assert!(!runs(
        "zsh",
        "oailb completions zsh > \"${fpath[1]}/_oailb\""
    ));
    assert!(!runs("sh", "oailb plan -f examples/seed.yaml"));
    assert!(!runs(
        "sh",
        "oailb deploy -f x.yaml --yes --json        # CI"
    ));
    assert!(!runs("sh", "export A=1\nterraform -chdir=infra init"));
    assert!(!runs(
        "sh",
        "az deployment sub create \\\n  --template-file x"
    ));
    assert!(!runs("sh", "scripts/test.sh"));
    assert!(
        !runs("sh", "oailb serve -f x.yaml"),
        "an unknown subcommand"
    );
    assert!(runs(
        "sh",
        "sleep infinity | target/debug/examples/fake-arm > \"$f/env\" &\nuntil [ -s \"$f/env\" ]; do sleep 0.1; done\noailb deploy -f x.yaml --yes"
    ));

    let cmds = commands(&block(
        "sh",
        "a \\\n  b   # exit 3: x\nc  # 'exit 1'\n# a comment\nd # (exit 1)\ne # exit 2",
    ));
    let got: Vec<(usize, &str, i32)> = cmds
        .iter()
        .map(|c| (c.line, c.text.as_str(), c.expect))
        .collect();
    assert_eq!(
        got,
        [
            (2, "a \\\n  b   # exit 3: x", 3),
            (4, "c  # 'exit 1'", 0),
            (6, "d # (exit 1)", 0),
            (7, "e # exit 2", 2)
        ]
    );
    assert_eq!(comment("echo '#' \"#\" x#y # z"), " z");
}

/// The quick start says how long the first build takes and shows the faster
/// debug build as a command (which the test above runs).
#[test]
fn quick_start_states_the_build_time_and_a_faster_path() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let quick = readme
        .split("\n## Quick start\n")
        .nth(1)
        .and_then(|s| s.split("\n## ").next())
        .expect("README has a Quick start section");
    assert!(quick.contains("minutes on 2 cores"), "{quick}");
    let debug_run = blocks(quick).into_iter().any(|b| {
        b.lang == "sh"
            && b.lines
                .iter()
                .any(|(_, l)| l.starts_with("cargo run -- ") && !l.contains("--release"))
    });
    assert!(debug_run, "no debug `cargo run -- …` block in:\n{quick}");
}
