//! The fault taxonomy shared by scenarios, hypotheses and scoring.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// What went wrong, as SCENARIOS.md lists it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    CpuSaturation,
    MemoryLeak,
    DiskFull,
    NetworkDelay,
    PacketLoss,
    DnsFailure,
    PodCrashloop,
    ImagePullError,
    ReplicaLoss,
    NodePressure,
    BadDeploy,
    ConfigError,
    ConnectionPoolExhaustion,
    CacheFailure,
    CertificateExpired,
    AuthFailure,
    QueueBacklog,
}

impl FaultKind {
    pub const ALL: [FaultKind; 17] = [
        FaultKind::CpuSaturation,
        FaultKind::MemoryLeak,
        FaultKind::DiskFull,
        FaultKind::NetworkDelay,
        FaultKind::PacketLoss,
        FaultKind::DnsFailure,
        FaultKind::PodCrashloop,
        FaultKind::ImagePullError,
        FaultKind::ReplicaLoss,
        FaultKind::NodePressure,
        FaultKind::BadDeploy,
        FaultKind::ConfigError,
        FaultKind::ConnectionPoolExhaustion,
        FaultKind::CacheFailure,
        FaultKind::CertificateExpired,
        FaultKind::AuthFailure,
        FaultKind::QueueBacklog,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FaultKind::CpuSaturation => "cpu_saturation",
            FaultKind::MemoryLeak => "memory_leak",
            FaultKind::DiskFull => "disk_full",
            FaultKind::NetworkDelay => "network_delay",
            FaultKind::PacketLoss => "packet_loss",
            FaultKind::DnsFailure => "dns_failure",
            FaultKind::PodCrashloop => "pod_crashloop",
            FaultKind::ImagePullError => "image_pull_error",
            FaultKind::ReplicaLoss => "replica_loss",
            FaultKind::NodePressure => "node_pressure",
            FaultKind::BadDeploy => "bad_deploy",
            FaultKind::ConfigError => "config_error",
            FaultKind::ConnectionPoolExhaustion => "connection_pool_exhaustion",
            FaultKind::CacheFailure => "cache_failure",
            FaultKind::CertificateExpired => "certificate_expired",
            FaultKind::AuthFailure => "auth_failure",
            FaultKind::QueueBacklog => "queue_backlog",
        }
    }

    /// The category column of the taxonomy.
    pub fn category(self) -> &'static str {
        match self {
            FaultKind::CpuSaturation | FaultKind::MemoryLeak | FaultKind::DiskFull => "resource",
            FaultKind::NetworkDelay | FaultKind::PacketLoss | FaultKind::DnsFailure => "network",
            FaultKind::PodCrashloop | FaultKind::ImagePullError => "kubernetes",
            FaultKind::ReplicaLoss => "operation",
            FaultKind::NodePressure => "infrastructure",
            FaultKind::BadDeploy => "code_defect",
            FaultKind::ConfigError => "misconfiguration",
            FaultKind::ConnectionPoolExhaustion | FaultKind::CacheFailure => "dependency",
            FaultKind::CertificateExpired | FaultKind::AuthFailure => "security",
            FaultKind::QueueBacklog => "capacity",
        }
    }
}

impl fmt::Display for FaultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for FaultKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        FaultKind::ALL.iter().copied().find(|k| k.as_str() == s).ok_or_else(|| {
            let names: Vec<&str> = FaultKind::ALL.iter().map(|k| k.as_str()).collect();
            format!("unknown fault kind {s:?}, expected one of {}", names.join(", "))
        })
    }
}
