//! Redaction throughput (MB/s) on log-sized text: the ordinary lines of the
//! test corpus with a planted secret every 20 lines, as one tool result.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use inquest::tools::redact::Redactor;

fn corpus() -> String {
    let ordinary = include_str!("../tests/data/secrets/ordinary.log");
    let planted: Vec<&str> = include_str!("../tests/data/secrets/planted.tsv")
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.splitn(3, '\t').nth(2))
        .collect();
    let mut out = String::new();
    for (i, line) in ordinary.lines().enumerate() {
        out.push_str(line);
        out.push('\n');
        if i % 20 == 0 {
            out.push_str(planted[i / 20 % planted.len()]);
            out.push('\n');
        }
    }
    out
}

fn bench(c: &mut Criterion) {
    let text = corpus();
    let clean_only = include_str!("../tests/data/secrets/ordinary.log");
    let mut g = c.benchmark_group("redact");
    g.throughput(Throughput::Bytes(text.len() as u64));
    g.bench_function("logs_with_secrets", |b| {
        let r = Redactor::new();
        b.iter(|| r.redact(std::hint::black_box(&text)))
    });
    g.throughput(Throughput::Bytes(clean_only.len() as u64));
    g.bench_function("ordinary_logs", |b| {
        let r = Redactor::new();
        b.iter(|| r.redact(std::hint::black_box(clean_only)))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
