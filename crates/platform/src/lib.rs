//! Custodian's adapters and plumbing: everything that touches the world. The three ports
//! (blob store, bus, catalogue) each with a standalone and a distributed adapter; the HTTP
//! pieces every role shares (authentication, errors, health, metrics); configuration parts
//! common to several roles; the clock; and logging. Roles depend on this crate and on
//! `custodian-core`, never on each other.

pub mod blob;
pub mod bus;
pub mod catalogue;
pub mod clock;
pub mod config;
pub mod events;
pub mod http;
pub mod telemetry;
#[cfg(feature = "testing")]
pub mod testing;

use std::sync::Arc;

/// The ports a role is given. In standalone mode every role shares one set; in distributed
/// mode each process builds its own from its configuration.
#[derive(Clone)]
pub struct Ports {
    pub blob: Arc<dyn blob::BlobStore>,
    pub bus: Arc<dyn bus::Bus>,
    pub catalogue: Arc<dyn catalogue::Catalogue>,
    pub clock: Arc<dyn clock::Clock>,
    pub registry: prometheus::Registry,
    /// The roles that may see secret clips (art. 24), as configured (`--secret-roles`).
    pub secret_roles: custodian_core::roles::SecretRoles,
}
