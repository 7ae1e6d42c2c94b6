fn main() {
    for r in inquest::sources::sim::Simulator::builtin() {
        match r {
            Ok(sc) => {
                let t = std::time::Instant::now();
                let id = sc.id.clone();
                let n = sc.services.len();
                match inquest::sources::sim::Simulator::new(sc) {
                    Ok(sim) => { let (a,b,c) = sim.sizes(); println!("{id:40} svcs={n:3} series={a:6} logs={b:6} spans={c:6} {:?}", t.elapsed()); }
                    Err(e) => println!("{id}: {e}"),
                }
            }
            Err(e) => println!("ERR {e}"),
        }
    }
}
