//! Statistical RCA.
