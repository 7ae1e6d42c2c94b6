//! Runs every built-in scenario with the built-in reasoner and prints top-1/top-3 against the truth.
use inquest::engine::setup::{Options, for_scenario};
use inquest::engine::{EventSink, start};
use inquest::sources::sim::Simulator;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let filter: Option<String> = std::env::args().nth(1);
    let (mut s1, mut k1, mut s3, mut n) = (0, 0, 0, 0);
    for r in Simulator::builtin() {
        let sc = r.unwrap();
        if filter.as_ref().is_some_and(|f| !sc.id.contains(f.as_str())) {
            continue;
        }
        let truth = sc.truth.clone().unwrap();
        let id = sc.id.clone();
        let setup = for_scenario(sc, &Options::default()).unwrap();
        let sinks: Vec<Box<dyn EventSink>> = vec![];
        let st = start(setup, sinks).wait().await.unwrap();
        let top: Vec<String> = st
            .root_causes
            .iter()
            .take(3)
            .map(|r| format!("{}/{}:{:.2}", r.service, r.kind.as_str(), r.confidence))
            .collect();
        let ok1 = st
            .root_causes
            .first()
            .is_some_and(|r| truth.accepts_service(&r.service));
        let okk = ok1 && st.root_causes[0].kind == truth.kind;
        let ok3 = st.root_causes.iter().take(3).any(|r| truth.accepts_service(&r.service));
        n += 1;
        s1 += ok1 as u32;
        k1 += okk as u32;
        s3 += ok3 as u32;
        println!(
            "{} {} {:38} truth {}/{}  got {}",
            if ok1 { "✓" } else { "✗" },
            if okk { "k" } else { " " },
            id,
            truth.service,
            truth.kind.as_str(),
            top.join("  ")
        );
        if std::env::var("V").is_ok() {
            for b in &st.branches {
                for h in &b.hypotheses {
                    println!(
                        "      {:17} {} {} {:.2} {}",
                        b.strategy,
                        h.1.service,
                        h.1.kind.as_str(),
                        h.1.confidence,
                        h.1.statement.chars().take(150).collect::<String>()
                    );
                }
            }
        }
    }
    println!("top1 service {s1}/{n}  service+kind {k1}/{n}  top3 {s3}/{n}");
}
