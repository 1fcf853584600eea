//! The benchmark's scenarios: each runs against a deployed echo function and returns results
//! that render as one section of the report.

pub(crate) mod async_events;
pub(crate) mod burst;
pub(crate) mod cold_start;
pub(crate) mod density;
pub(crate) mod extension_overhead;
pub(crate) mod throughput;
pub(crate) mod warm_latency;
