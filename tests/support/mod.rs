//! Shared by the `serve` tests: mock Azure OpenAI backends and a running
//! `oailb serve` process.

#![allow(dead_code)]

pub mod mock_aoai;
pub mod serve_process;
