//! The protocol-free core: the domain model ([`model`]), the task state
//! machine that does no IO ([`machine`]), the site model and planner
//! ([`site`]), the boundary device adapters implement ([`adapter`]), and the
//! event loop that ties them to the store ([`runtime`]).

pub mod adapter;
pub mod machine;
pub mod model;
pub mod runtime;
pub mod site;

pub use runtime::{start, EngineConfig, EngineError, EngineHandle};
