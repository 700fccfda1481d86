//! Everything that talks to Azure: Resource Manager, the Log Analytics query
//! API (`logs`, for `oailb usage`), and the Entra ID tokens and Key Vault
//! reads of `oailb serve`. This is the only module
//! that uses the `azure_*` crates: the rest of oailb sees ARM ids, API
//! versions and JSON bodies, so moving to the official successor crates
//! touches nothing outside this directory.
//!
//! Long-running operations are polled here (Azure-AsyncOperation, Location,
//! provisioningState) instead of through the 0.21 crates' pollers, which
//! misread `provisioningState` and fail on an empty 202.

pub mod auth;
mod client;
pub mod cloud;
mod error;
pub mod keyvault;
pub mod logs;
pub mod tokens;

pub use auth::{AuthMethod, Credential};
pub use client::{
    is_terminal_state, provisioning_state, ArmClient, Counters, Notice, Notify, Timing,
};
pub use cloud::Endpoint;
pub use error::ArmError;
pub use tokens::TokenCache;
