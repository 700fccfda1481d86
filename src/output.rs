//! Terminal styling, tables and atomic file writes.

use std::io::{IsTerminal, Write};
use std::path::Path;

use anyhow::Context;

/// When to colour: `auto` means a terminal and no `NO_COLOR`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ColorChoice {
    #[default]
    Auto,
    Always,
    Never,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl ColorChoice {
    pub fn enabled(self, stream: Stream) -> bool {
        match self {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                // https://no-color.org: set and non-empty disables colour.
                if std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()) {
                    return false;
                }
                match stream {
                    Stream::Stdout => std::io::stdout().is_terminal(),
                    Stream::Stderr => std::io::stderr().is_terminal(),
                }
            }
        }
    }
}

/// ANSI styling that collapses to plain text when colour is off.
#[derive(Debug, Clone, Copy)]
pub struct Style {
    pub color: bool,
}

impl Style {
    fn paint(&self, code: &str, s: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }
    pub fn bold(&self, s: &str) -> String {
        self.paint("1", s)
    }
    pub fn green(&self, s: &str) -> String {
        self.paint("32", s)
    }
    pub fn yellow(&self, s: &str) -> String {
        self.paint("33", s)
    }
    pub fn red(&self, s: &str) -> String {
        self.paint("31", s)
    }
    pub fn dim(&self, s: &str) -> String {
        self.paint("2", s)
    }
}

/// Left-aligned columns, two spaces apart. `cells` are plain text; `paint`
/// styles a cell after padding so escape codes do not break alignment.
pub fn table(rows: &[Vec<String>], paint: &dyn Fn(usize, usize, &str) -> String) -> String {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for (ri, row) in rows.iter().enumerate() {
        let mut line = String::new();
        for (ci, cell) in row.iter().enumerate() {
            let last = ci + 1 == row.len();
            let padded = if last {
                cell.clone()
            } else {
                format!("{cell:<w$}", w = widths[ci])
            };
            line.push_str(&paint(ri, ci, &padded));
            if !last {
                line.push_str("  ");
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// Writes `bytes` to `path` through a temporary file in the same directory
/// and a rename, so readers never see a partial file. With `overwrite` false
/// an existing file is an error (checked atomically by the rename).
///
/// The file gets the mode any tool would give it: that of the file it
/// replaces, else 0666 less the umask (a temporary file alone would be 0600;
/// oailb never writes secrets, so there is no reason to differ).
pub fn write_atomic(path: &Path, bytes: &[u8], overwrite: bool) -> anyhow::Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut builder = tempfile::Builder::new();
    builder.prefix(".oailb-");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o666));
    }
    let mut tmp = builder
        .tempfile_in(dir)
        .with_context(|| format!("cannot create a temporary file in {}", dir.display()))?;
    if let Ok(existing) = std::fs::metadata(path) {
        if overwrite && existing.is_file() {
            tmp.as_file()
                .set_permissions(existing.permissions())
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
    }
    tmp.write_all(bytes)
        .and_then(|_| tmp.as_file().sync_all())
        .with_context(|| format!("cannot write {}", path.display()))?;
    if overwrite {
        tmp.persist(path)
            .map_err(|e| e.error)
            .with_context(|| format!("cannot write {}", path.display()))?;
    } else {
        tmp.persist_noclobber(path).map_err(|e| {
            if e.error.kind() == std::io::ErrorKind::AlreadyExists {
                anyhow::anyhow!(
                    "{} already exists (use --force to overwrite)",
                    path.display()
                )
            } else {
                anyhow::Error::new(e.error).context(format!("cannot write {}", path.display()))
            }
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_aligns_columns() {
        let rows = vec![
            vec!["a".to_string(), "bbb".to_string(), "c".to_string()],
            vec!["dddd".to_string(), "e".to_string(), "f".to_string()],
        ];
        let t = table(&rows, &|_, _, s| s.to_string());
        assert_eq!(t, "a     bbb  c\ndddd  e    f\n");
    }

    #[test]
    fn atomic_write_refuses_to_clobber() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.txt");
        write_atomic(&p, b"one", false).unwrap();
        assert!(write_atomic(&p, b"two", false).is_err());
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "one");
        write_atomic(&p, b"two", true).unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "two");
        // No temporary file is left behind.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    /// 0666 less the umask for a new file, the old mode for a replaced one.
    #[cfg(unix)]
    #[test]
    fn atomic_write_gives_the_usual_file_mode() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        // What this process's umask gives a file created the ordinary way.
        let plain = dir.path().join("plain");
        std::fs::write(&plain, b"").unwrap();
        let new = dir.path().join("new");
        write_atomic(&new, b"x", false).unwrap();
        assert_eq!(mode(&new), mode(&plain));
        std::fs::set_permissions(&new, std::fs::Permissions::from_mode(0o640)).unwrap();
        write_atomic(&new, b"y", true).unwrap();
        assert_eq!(mode(&new), 0o640);
    }
}
