//! Shared by the `serve` tests: mock Azure OpenAI backends and a running
//! `oailb serve` process.

#![allow(dead_code)]

pub mod mock_aoai;
pub mod serve_process;

use mock_aoai::{Answer, Backend};

/// Mock backends named as examples/seed.yaml's: eastus and eastus2
/// (priority 1), canadaeast (priority 2).
pub struct SeedBackends {
    pub eastus: Backend,
    pub eastus2: Backend,
    pub canadaeast: Backend,
}

impl SeedBackends {
    pub async fn start() -> SeedBackends {
        SeedBackends {
            eastus: Backend::start("eastus").await,
            eastus2: Backend::start("eastus2").await,
            canadaeast: Backend::start("canadaeast").await,
        }
    }

    /// `--upstream NAME=URL` for each.
    pub fn upstream_args(&self) -> Vec<String> {
        [&self.eastus, &self.eastus2, &self.canadaeast]
            .iter()
            .flat_map(|b| ["--upstream".to_string(), format!("{}={}", b.name, b.url())])
            .collect()
    }

    /// Both priority-1 backends answer `a` from now on.
    pub fn priority_one(&self, a: Answer) {
        self.eastus.always(a.clone());
        self.eastus2.always(a);
    }

    /// Every backend answers `a` from now on.
    pub fn all(&self, a: Answer) {
        self.priority_one(a.clone());
        self.canadaeast.always(a);
    }

    /// Requests received by the priority-1 backends.
    pub fn priority_one_count(&self) -> usize {
        self.eastus.count() + self.eastus2.count()
    }
}
