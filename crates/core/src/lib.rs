//! The domain of Custodian, free of I/O: what a clip is, how it is named and identified,
//! which states it moves through, which events announce those moves, and the rules that
//! decide whether an upload's metadata and digest are acceptable. Every other crate builds
//! on these types; this one depends on nothing of ours, so its rules can be tested alone.

pub mod audit;
pub mod calendar;
pub mod cases;
pub mod classification;
pub mod copies;
pub mod deadlines;
pub mod digest;
pub mod events;
pub mod export;
pub mod ids;
pub mod keys;
pub mod login;
pub mod media;
pub mod naming;
pub mod records;
pub mod rectification;
pub mod redaction;
pub mod resumable;
pub mod retention;
pub mod roles;
pub mod settings;
pub mod sidecar;
pub mod state;
pub mod station;
pub mod supervision;
pub mod token;
pub mod tus;
pub mod upload;
pub mod users;

pub use digest::{DigestError, Sha256Digest};
pub use ids::{BureauId, ClipId, IdError, LocalId};
pub use state::{ClipState, ProcessingStep, TransitionError};
