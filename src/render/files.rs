//! Writing a set of rendered files into an output directory, atomically, and
//! comparing a directory with what would be written (`--check`).
//!
//! oailb records the files it wrote in [`MANIFEST`]; a later render removes
//! those of them it no longer produces (a `monitoring.tf` that would
//! otherwise keep creating resources) and never touches any other file.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Component, Path, PathBuf};

use anyhow::{bail, Context};

use super::Files;

/// The list of files oailb wrote into an output directory.
pub const MANIFEST: &str = ".oailb-files";

const MANIFEST_HEADER: &str =
    "# Files written by `oailb render`; a re-render removes the ones it no longer writes.\n";

/// Adds the manifest that lists every file of `files`.
pub fn with_manifest(mut files: Files) -> Files {
    files.remove(MANIFEST);
    let mut text = String::from(MANIFEST_HEADER);
    for name in files.keys() {
        text.push_str(name);
        text.push('\n');
    }
    files.insert(MANIFEST.to_string(), text.into_bytes());
    files
}

/// The files a previous render listed in `dir`'s manifest (none without one).
fn previous(dir: &Path) -> BTreeSet<String> {
    let Ok(text) = std::fs::read_to_string(dir.join(MANIFEST)) else {
        return BTreeSet::new();
    };
    text.lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter(|l| safe_relative(l))
        .map(str::to_string)
        .collect()
}

/// Only plain relative paths below the directory (a manifest is data that a
/// user could edit: never follow it outside).
fn safe_relative(p: &str) -> bool {
    let path = Path::new(p);
    !p.is_empty() && path.components().all(|c| matches!(c, Component::Normal(_)))
}

/// What [`write_dir`] did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Written {
    pub written: Vec<String>,
    pub unchanged: Vec<String>,
    pub removed: Vec<String>,
}

/// Writes `files` (which should carry the manifest) into `dir`. Files whose
/// content changed are first written into a staging directory next to
/// `dir`; only when that succeeded are they moved into place (each move is
/// an atomic rename), so a failure leaves `dir` as it was. A `dir` that does
/// not exist yet appears in one rename. Files a previous render listed and
/// this one does not are removed last.
pub fn write_dir(dir: &Path, files: &Files) -> anyhow::Result<Written> {
    for name in files.keys() {
        if !safe_relative(name) {
            bail!("refusing to write {name}: not a relative path inside the output directory");
        }
    }
    if dir.exists() && !dir.is_dir() {
        bail!("{} exists and is not a directory", dir.display());
    }
    let mut report = Written::default();
    // Only what changed is staged and moved: a re-render of an up-to-date
    // directory touches nothing.
    let changed: Vec<(&String, &Vec<u8>)> = files
        .iter()
        .filter(|(name, bytes)| {
            let same = std::fs::read(dir.join(name)).is_ok_and(|cur| &cur == *bytes);
            if same {
                report.unchanged.push((*name).clone());
            }
            !same
        })
        .collect();
    let old = previous(dir);
    let stale: Vec<String> = old
        .into_iter()
        .filter(|name| !files.contains_key(name) && dir.join(name).is_file())
        .collect();
    if changed.is_empty() && stale.is_empty() {
        return Ok(report);
    }

    let parent = match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent)
        .with_context(|| format!("cannot create {}", parent.display()))?;
    let staging = tempfile::Builder::new()
        .prefix(".oailb-render-")
        .tempdir_in(&parent)
        .with_context(|| format!("cannot create a staging directory in {}", parent.display()))?;
    // No fsync: the files are reproducible with one command and `--check`
    // finds any difference; what matters is that no reader and no failed
    // render ever sees a partial file, which the renames guarantee.
    for (name, bytes) in &changed {
        let path = staging.path().join(name);
        if let Some(p) = path.parent() {
            std::fs::create_dir_all(p).with_context(|| format!("cannot create {}", p.display()))?;
        }
        std::fs::File::create(&path)
            .and_then(|mut f| f.write_all(bytes))
            .with_context(|| format!("cannot write {}", path.display()))?;
    }

    if !dir.exists() {
        let staged = staging.keep();
        if let Err(e) = std::fs::rename(&staged, dir) {
            let _ = std::fs::remove_dir_all(&staged);
            return Err(e).with_context(|| format!("cannot create {}", dir.display()));
        }
        report.written = changed.iter().map(|(n, _)| (*n).clone()).collect();
        return Ok(report);
    }
    for (name, _) in &changed {
        let target = dir.join(name);
        if let Some(p) = target.parent() {
            std::fs::create_dir_all(p).with_context(|| format!("cannot create {}", p.display()))?;
        }
        std::fs::rename(staging.path().join(name), &target)
            .with_context(|| format!("cannot write {}", target.display()))?;
        report.written.push((*name).clone());
    }
    for name in stale {
        let target = dir.join(&name);
        std::fs::remove_file(&target)
            .with_context(|| format!("cannot remove {}", target.display()))?;
        report.removed.push(name);
    }
    Ok(report)
}

/// A unified diff from what `dir` holds to what `files` would write (files
/// that a previous render wrote and this one would remove included), or
/// `None` when they agree. Non-UTF-8 content is compared byte for byte.
pub fn check_dir(dir: &Path, files: &Files) -> anyhow::Result<Option<String>> {
    let mut out = String::new();
    // `a//tmp/x` reads badly: an absolute directory loses its leading slash
    // after the git-style `a/` prefix.
    let show = dir.display().to_string();
    let show = show.trim_start_matches('/');
    for (name, bytes) in files {
        let path = dir.join(name);
        let current = match std::fs::read(&path) {
            Ok(b) => Some(b),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        };
        if current.as_deref() == Some(bytes.as_slice()) {
            continue;
        }
        let old_name = match current {
            Some(_) => format!("a/{show}/{name}"),
            None => "/dev/null".to_string(),
        };
        out.push_str(&diff(
            &String::from_utf8_lossy(current.as_deref().unwrap_or_default()),
            &String::from_utf8_lossy(bytes),
            &old_name,
            &format!("b/{show}/{name}"),
        ));
    }
    for name in previous(dir) {
        if files.contains_key(&name) {
            continue;
        }
        if let Ok(bytes) = std::fs::read(dir.join(&name)) {
            out.push_str(&diff(
                &String::from_utf8_lossy(&bytes),
                "",
                &format!("a/{show}/{name}"),
                "/dev/null",
            ));
        }
    }
    Ok((!out.is_empty()).then_some(out))
}

fn diff(old: &str, new: &str, old_name: &str, new_name: &str) -> String {
    let d = similar::TextDiff::from_lines(old, new);
    let mut text = d
        .unified_diff()
        .context_radius(3)
        .header(old_name, new_name)
        .to_string();
    if old == new {
        // Same text, different bytes (invalid UTF-8): still report it.
        text = format!("Binary files {old_name} and {new_name} differ\n");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(pairs: &[(&str, &str)]) -> Files {
        with_manifest(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
                .collect(),
        )
    }

    #[test]
    fn writes_checks_and_removes_only_its_own_stale_files() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("out");
        let v1 = files(&[
            ("main.tf", "a\n"),
            ("policies/x.xml", "<p/>\n"),
            ("extra.tf", "e\n"),
        ]);
        write_dir(&out, &v1).unwrap();
        assert_eq!(check_dir(&out, &v1).unwrap(), None);
        std::fs::write(out.join("mine.tf"), "user file\n").unwrap();

        let v2 = files(&[("main.tf", "b\n"), ("policies/x.xml", "<p/>\n")]);
        let diff = check_dir(&out, &v2).unwrap().expect("drift");
        assert!(diff.contains("-a\n+b\n"), "{diff}");
        assert!(diff.contains("a/") && diff.contains("extra.tf"), "{diff}");
        let w = write_dir(&out, &v2).unwrap();
        assert_eq!(w.removed, vec!["extra.tf".to_string()]);
        assert!(w.unchanged.contains(&"policies/x.xml".to_string()));
        assert_eq!(
            std::fs::read_to_string(out.join("mine.tf")).unwrap(),
            "user file\n"
        );
        assert!(!out.join("extra.tf").exists());
        assert_eq!(check_dir(&out, &v2).unwrap(), None);
        // No staging directory is left behind.
        let leftovers: Vec<_> = std::fs::read_dir(tmp.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(leftovers, vec![std::ffi::OsString::from("out")]);
    }

    #[test]
    fn manifest_entries_outside_the_directory_are_ignored() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("out");
        std::fs::create_dir_all(&out).unwrap();
        std::fs::write(tmp.path().join("victim"), "keep").unwrap();
        std::fs::write(out.join(MANIFEST), "../victim\n/etc/passwd\n").unwrap();
        write_dir(&out, &files(&[("a.tf", "x\n")])).unwrap();
        assert!(tmp.path().join("victim").exists());
    }

    #[test]
    fn missing_directory_diffs_against_dev_null() {
        let tmp = tempfile::tempdir().unwrap();
        let d = check_dir(&tmp.path().join("nope"), &files(&[("a.tf", "x\n")]))
            .unwrap()
            .unwrap();
        assert!(d.contains("--- /dev/null"), "{d}");
        assert!(d.contains("+x"), "{d}");
    }
}
