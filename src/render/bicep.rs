//! `oailb render bicep`.

use super::infra::Model;
use super::{Files, Templates};

pub fn render(_m: &Model, _templates: &Templates) -> anyhow::Result<Files> {
    Ok(Files::new())
}
