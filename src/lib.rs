//! oailb: smart load balancing for Azure OpenAI behind Azure API Management.
//!
//! Data flows one way: topology file → [`topology::Topology`] (validated) →
//! [`desired::Desired`] (Azure resources and their dependencies) → renderers,
//! plan and deploy.

pub mod azure;
pub mod balancer;
pub mod cli;
pub mod closed_output;
pub mod commands;
pub mod deploy;
pub mod desired;
pub mod exit;
pub mod output;
pub mod plan;
pub mod render;
pub mod serve;
pub mod simulate;
pub mod topology;
pub mod usage;
