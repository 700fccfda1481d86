//! `oailb init`: a commented starter topology.

use crate::cli::{GlobalArgs, InitArgs};
use crate::exit;
use crate::output::{write_atomic, Stream};

pub const STARTER: &str = include_str!("../../templates/init/oailb.yaml");

pub fn run(g: &GlobalArgs, a: &InitArgs) -> anyhow::Result<u8> {
    write_atomic(&g.topology, STARTER.as_bytes(), a.force)?;
    if !g.quiet {
        let s = g.style(Stream::Stderr);
        eprintln!(
            "{} wrote {}; edit it, then run `oailb validate -f {}`",
            s.green("✓"),
            g.topology.display(),
            g.topology.display()
        );
    }
    Ok(exit::OK)
}
