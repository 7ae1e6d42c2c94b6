//! `inquest serve`: alerts in over HTTP (Alertmanager's webhook, PagerDuty
//! webhooks v3 with their signature checked), stored in the intake queue
//! before they are answered, investigated by a bounded pool of workers; and
//! the investigations API (`/v1/investigations`) that starts, follows and
//! steers them; and the changes CI/CD pipelines post (`/v1/changes`).

mod api;
mod auth;
mod changes;
mod http;
mod hub;
mod lifecycle;
mod limits;
mod metrics;
mod queue;
mod routes;
mod server;
mod sse;
mod tls;
mod workers;

pub use auth::{Token, signed};
pub use hub::{Hub, Live};
pub use lifecycle::Intake;
pub use limits::Limits;
pub use workers::Drained;
