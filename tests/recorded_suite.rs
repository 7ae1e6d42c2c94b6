//! The recorded suite: incidents captured from a real stack (`lab/`) and
//! Kubernetes cases written from real object shapes (`scenarios-recorded/`).
//! Real telemetry has its own bar: AC@1 (service) 0.85, service and kind
//! 0.75, and a miss must rather say "no root cause" than name a wrong one
//! more often than it is right.

use inquest::eval::{EvalOptions, report};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_recorded_real_incidents_meet_their_bar() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios-recorded");
    let paths = inquest::eval::discover(&dir).unwrap();
    assert!(paths.len() >= 20, "{} recorded scenarios", paths.len());
    let r = inquest::eval::run(
        &paths,
        &EvalOptions {
            jobs: 2,
            ..Default::default()
        },
    )
    .await;
    println!("{}", report::table(&r, false));
    let s = &r.summary;
    assert_eq!(s.failed, 0, "every recorded scenario loads and runs");
    assert!(s.ac1_service >= 0.85, "AC@1 service {}", s.ac1_service);
    assert!(
        s.ac1_service_kind >= 0.75,
        "AC@1 service and kind {}",
        s.ac1_service_kind
    );
    // Lab captures and Kubernetes-only cases are both present.
    let lab = r.scenarios.iter().filter(|x| x.id.starts_with("lab-")).count();
    let kube = r.scenarios.iter().filter(|x| x.id.starts_with("k8s-")).count();
    assert!(lab >= 20, "{lab} lab captures");
    assert!(kube >= 5, "{kube} Kubernetes cases");
}
