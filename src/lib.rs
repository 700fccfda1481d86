//! oailb: smart load balancing for Azure OpenAI behind Azure API Management.
//!
//! Data flows one way: topology file → [`topology::Topology`] (validated) →
//! [`desired::Desired`] (Azure resources and their dependencies) → renderers,
//! plan and deploy.

pub mod balancer;
pub mod cli;
pub mod commands;
pub mod desired;
pub mod exit;
pub mod output;
pub mod render;
pub mod topology;
