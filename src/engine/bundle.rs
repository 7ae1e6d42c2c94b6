//! The bundle id: a short hash of everything that shapes behaviour, recorded on
//! every investigation so any trace can say what produced it.

use sha2::{Digest, Sha256};

use crate::tools::Catalog;

/// The read-only policy's version, part of the bundle.
pub const POLICY: &str = "read-only/v1: only tools declared access=read; arguments checked against their schema";

pub fn bundle_id(reasoner_fingerprint: &str, catalog: &Catalog) -> String {
    bundle_id_with(reasoner_fingerprint, catalog, "")
}

/// The id of a bundle whose settings differ from the defaults: `settings` is
/// the canonical text of what differs (empty for none, which gives the same id
/// as [`bundle_id`], so traces of the default keep their id).
pub fn bundle_id_with(reasoner_fingerprint: &str, catalog: &Catalog, settings: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"inquest ");
    h.update(env!("CARGO_PKG_VERSION").as_bytes());
    h.update(b"\0");
    h.update(reasoner_fingerprint.as_bytes());
    h.update(b"\0");
    h.update(catalog.fingerprint_text().as_bytes());
    h.update(b"\0");
    h.update(POLICY.as_bytes());
    if !settings.is_empty() {
        h.update(b"\0");
        h.update(settings.as_bytes());
    }
    let d = h.finalize();
    d.iter().take(6).map(|b| format!("{b:02x}")).collect()
}
