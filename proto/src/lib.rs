//! The wire contracts between Custodian's roles: protobuf messages carried on the bus.
//! Generated from `proto/custodian/v1/*.proto` at build time; the subjects they travel
//! on are named in `custodian_core::events`.

pub mod v1 {
    include!(concat!(env!("OUT_DIR"), "/custodian.v1.rs"));
}

pub use prost::{DecodeError, Message};
