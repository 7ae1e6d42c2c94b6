//! `inquest serve`: alerts in over HTTP (Alertmanager's webhook, PagerDuty
//! webhooks v3 with their signature checked), stored in the intake queue
//! before they are answered, investigated by a bounded pool of workers.

mod auth;
mod http;
mod lifecycle;
mod limits;
mod metrics;
mod queue;
mod routes;
mod server;
mod tls;
mod workers;

pub use auth::{Token, signed};
pub use lifecycle::Intake;
pub use limits::Limits;
pub use workers::Drained;
